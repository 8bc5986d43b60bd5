// Optional Azure Managed Redis as the event store. The app reaches it with a redis:// URL that
// carries the access key; that URL lives only in Key Vault and reaches the app as a Key Vault
// reference (REDIS_URL), resolved with the app's managed identity.
param name string
param location string
param tags object
param keyVaultName string

resource cluster 'Microsoft.Cache/redisEnterprise@2025-04-01' = {
  name: name
  location: location
  tags: tags
  sku: {
    name: 'Balanced_B0'
  }
  properties: {
    minimumTlsVersion: '1.2'
    highAvailability: 'Enabled'
  }
}

resource database 'Microsoft.Cache/redisEnterprise/databases@2025-04-01' = {
  parent: cluster
  name: 'default'
  properties: {
    clientProtocol: 'Encrypted'
    port: 10000
    // One endpoint that behaves like a single Redis server, so a plain client works.
    clusteringPolicy: 'EnterpriseCluster'
    // An event log must never lose entries to memory pressure.
    evictionPolicy: 'NoEviction'
    accessKeysAuthentication: 'Enabled'
  }
}

resource vault 'Microsoft.KeyVault/vaults@2024-11-01' existing = {
  name: keyVaultName
}

resource redisUrl 'Microsoft.KeyVault/vaults/secrets@2024-11-01' = {
  // checkov:skip=CKV_AZURE_41: the value is rewritten from the cache's current access key on every provision; an expiry would stop the app
  parent: vault
  name: 'redis-url'
  properties: {
    value: 'rediss://:${uriComponent(database.listKeys().primaryKey)}@${cluster.properties.hostName}:10000/0'
    contentType: 'text/plain'
    attributes: {
      enabled: true
    }
  }
}

output redisUrlSecretUri string = redisUrl.properties.secretUri
