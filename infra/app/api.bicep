// The function app on a Flex Consumption plan, and its app settings.
param name string
param planName string
param location string
param tags object
param identityId string
param identityClientId string
param storageAccountName string
param deploymentContainerName string
param applicationInsightsConnectionString string
param instanceMemoryMB int
param maximumInstanceCount int
param httpPerInstanceConcurrency int
param streamMaxSeconds int
param eventRetention string
param corsAllowedOrigins string
param streamTokenSecretUri string
@description('Empty when Azure OpenAI is not deployed.')
param openAiEndpoint string = ''
param openAiDeploymentName string = ''
@description('Empty when Redis is not deployed.')
param redisUrlSecretUri string = ''
@description('Durable task hub name (TASK_HUB_NAME), in Azure Storage or in the Durable Task Scheduler.')
param taskHubName string
@description('Endpoint of the Durable Task Scheduler; empty keeps the Azure Storage backend.')
param durableTaskSchedulerEndpoint string = ''

resource storage 'Microsoft.Storage/storageAccounts@2024-01-01' existing = {
  name: storageAccountName
}

resource plan 'Microsoft.Web/serverfarms@2024-11-01' = {
  // checkov:skip=CKV_AZURE_225: zone redundancy on Flex Consumption is offered in some regions only and needs always-ready instances
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    name: 'FC1'
    tier: 'FlexConsumption'
  }
  properties: {
    reserved: true
  }
}

resource site 'Microsoft.Web/sites@2024-11-01' = {
  // checkov:skip=CKV_AZURE_78: Flex Consumption has no FTP endpoint; FTP and SCM basic-auth publishing are switched off below
  // checkov:skip=CKV_AZURE_222: the API is called by browsers and web apps on the internet; function keys and signed stream tokens guard it
  // checkov:skip=CKV_AZURE_17: browsers calling the API cannot present client certificates
  // checkov:skip=CKV_AZURE_212: Flex Consumption scales to zero and out on demand; always-ready instances are a cost choice left to the operator
  // checkov:skip=CKV_AZURE_213: Flex Consumption does not use App Service health check; GET /api/health serves external probes
  name: name
  location: location
  tags: union(tags, { 'azd-service-name': 'api' })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    keyVaultReferenceIdentity: identityId
    siteConfig: {
      minTlsVersion: '1.2'
      http20Enabled: true
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storage.properties.primaryEndpoints.blob}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        instanceMemoryMB: instanceMemoryMB
        maximumInstanceCount: maximumInstanceCount
        triggers: {
          http: {
            perInstanceConcurrency: httpPerInstanceConcurrency
          }
        }
      }
      runtime: {
        name: 'python'
        version: '3.11'
      }
    }
  }
}

// Deployments authenticate with Entra ID; publishing user names and passwords stay off.
resource ftpBasicAuth 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-11-01' = {
  parent: site
  name: 'ftp'
  properties: {
    allow: false
  }
}

resource scmBasicAuth 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-11-01' = {
  parent: site
  name: 'scm'
  properties: {
    allow: false
  }
}

var hostSettings = {
  // Host storage through the managed identity: no connection string, no account key.
  AzureWebJobsStorage__blobServiceUri: storage.properties.primaryEndpoints.blob
  AzureWebJobsStorage__queueServiceUri: storage.properties.primaryEndpoints.queue
  AzureWebJobsStorage__tableServiceUri: storage.properties.primaryEndpoints.table
  AzureWebJobsStorage__credential: 'managedidentity'
  AzureWebJobsStorage__clientId: identityClientId
  APPLICATIONINSIGHTS_CONNECTION_STRING: applicationInsightsConnectionString
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identityClientId};Authorization=AAD'
  // Python <= 3.12 only turns on HTTP streams when functions are indexed at worker init.
  PYTHON_ENABLE_INIT_INDEXING: '1'
  TASK_HUB_NAME: taskHubName
  // DefaultAzureCredential in the app picks the user-assigned identity with this.
  AZURE_CLIENT_ID: identityClientId
}

var agentSettings = {
  EVENT_STORE: empty(redisUrlSecretUri) ? 'table' : 'redis'
  EVENT_RETENTION: eventRetention
  EVENT_TABLE_PREFIX: 'agentstream'
  MODEL_PROVIDER: empty(openAiEndpoint) ? 'demo' : 'azure_openai'
  MODEL_API: 'chat'
  MODEL_REASONING_EFFORT: ''
  DEMO_TOKENS_PER_SECOND: '40'
  MODEL_TIMEOUT_SECONDS: '60'
  CLIENT_TOOL_TIMEOUT_SECONDS: '300'
  ORCHESTRATION_START_GRACE_SECONDS: '60'
  MAX_MODEL_STEPS: '8'
  STEP_MAX_ATTEMPTS: '3'
  STEP_RETRY_INTERVAL_MS: '1000'
  STREAM_MAX_SECONDS: string(streamMaxSeconds)
  STREAM_HEARTBEAT_SECONDS: '15'
  STREAM_WRITE_TIMEOUT_SECONDS: '5'
  STREAM_RETRY_MS: '1000'
  MAX_REQUEST_BYTES: '1048576'
  MAX_MESSAGE_CHARS: '32000'
  API_AUTH: 'function_key'
  STREAM_TOKEN_SECRET: '@Microsoft.KeyVault(SecretUri=${streamTokenSecretUri})'
  STREAM_TOKEN_TTL_SECONDS: '3600'
  CORS_ALLOWED_ORIGINS: corsAllowedOrigins
  // Matches the platform's per-instance HTTP concurrency, so the platform scales out before
  // an instance sheds streams with 503.
  MAX_CONCURRENT_STREAMS: string(httpPerInstanceConcurrency)
  PURGE_SCHEDULE: '0 17 3 * * *'
}

var openAiSettings = {
  AZURE_OPENAI_ENDPOINT: openAiEndpoint
  AZURE_OPENAI_DEPLOYMENT: openAiDeploymentName
  AZURE_OPENAI_API_VERSION: '2024-10-21'
}

var redisSettings = {
  REDIS_URL: '@Microsoft.KeyVault(SecretUri=${redisUrlSecretUri})'
}

// The Durable Task Scheduler backend, reached with the managed identity (no key exists). host.json
// in the package names the Azure Storage backend and its tuning; the host reads
// AzureFunctionsJobHost__<path> settings over host.json, so the last two switch the same package
// to the scheduler (which has no use for the Azure Storage tuning).
var durableTaskSchedulerSettings = {
  DURABLE_TASK_SCHEDULER_CONNECTION_STRING: 'Endpoint=${durableTaskSchedulerEndpoint};Authentication=ManagedIdentity;ClientID=${identityClientId}'
  AzureFunctionsJobHost__extensions__durableTask__storageProvider__type: 'azureManaged'
  AzureFunctionsJobHost__extensions__durableTask__storageProvider__connectionStringName: 'DURABLE_TASK_SCHEDULER_CONNECTION_STRING'
}

// Settings of a service that is not deployed are left out rather than set empty.
var optionalSettings = union(
  empty(openAiEndpoint) ? {} : openAiSettings,
  empty(redisUrlSecretUri) ? {} : redisSettings,
  empty(durableTaskSchedulerEndpoint) ? {} : durableTaskSchedulerSettings
)

resource appSettings 'Microsoft.Web/sites/config@2024-11-01' = {
  // checkov:skip=CKV_AZURE_63: this check reads the 'web' config; this resource is the 'appsettings' config
  // checkov:skip=CKV_AZURE_65: this check reads the 'web' config; this resource is the 'appsettings' config
  // checkov:skip=CKV_AZURE_66: this check reads the 'web' config; this resource is the 'appsettings' config
  // checkov:skip=CKV_AZURE_80: this check reads the 'web' config; this resource is the 'appsettings' config
  // checkov:skip=CKV_AZURE_88: this check reads the 'web' config; this resource is the 'appsettings' config
  // checkov:skip=CKV_AZURE_222: this check reads the 'web' config; this resource is the 'appsettings' config
  // checkov:skip=CKV_AZURE_13: API_AUTH=function_key makes the Functions host check a key on every call except the stream, which checks a signed token; App Service authentication is the API_AUTH=entra option
  parent: site
  name: 'appsettings'
  properties: union(hostSettings, agentSettings, optionalSettings)
}

output name string = site.name
output url string = 'https://${site.properties.defaultHostName}'
