// Secrets the app reads through Key Vault references, resolved with its managed identity
// (Key Vault Secrets User, granted in rbac.bicep): the stream token key, and the Redis URL when
// Redis is deployed.
param name string
param location string
param tags object

@secure()
param streamTokenSecret string

resource vault 'Microsoft.KeyVault/vaults@2024-11-01' = {
  // checkov:skip=CKV_AZURE_109: the app runs without VNet integration, so it reaches this service over its public endpoint; access needs an Entra ID token and a data-plane role
  // checkov:skip=CKV_AZURE_189: the app runs without VNet integration, so it reaches this service over its public endpoint; access needs an Entra ID token and a data-plane role
  // checkov:skip=CKV_AZURE_110: purge protection cannot be turned off again, and `azd down --purge` must free the vault name for the next `azd up` of the same environment; the vault holds only values the deployment writes
  // checkov:skip=CKV_AZURE_42: soft delete is on; this check also demands purge protection (see CKV_AZURE_110)
  name: name
  location: location
  tags: tags
  properties: {
    tenantId: tenant().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 7
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      bypass: 'AzureServices'
      defaultAction: 'Allow'
    }
  }
}

resource streamTokenSecretValue 'Microsoft.KeyVault/vaults/secrets@2024-11-01' = {
  // checkov:skip=CKV_AZURE_41: an expired secret would stop the app; rotate it with `azd env set STREAM_TOKEN_SECRET` and `azd provision`
  parent: vault
  name: 'stream-token-secret'
  properties: {
    value: streamTokenSecret
    contentType: 'text/plain'
    attributes: {
      enabled: true
    }
  }
}

output name string = vault.name
output streamTokenSecretUri string = streamTokenSecretValue.properties.secretUri
