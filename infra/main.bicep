// agentstream on Azure Functions Flex Consumption, deployed by `azd up`.
// Everything authenticates with one user-assigned managed identity: host storage, the event store
// (Table storage in the same account), Application Insights ingestion, Key Vault references and,
// when deployed, Azure OpenAI. No account key or connection secret is handed to the app.
targetScope = 'subscription'

@minLength(1)
@maxLength(64)
@description('Name of the azd environment; it seeds the unique suffix of every resource name.')
param environmentName string

@minLength(1)
@description('Region for all resources. It must offer the Flex Consumption plan.')
@metadata({ azd: { type: 'location' } })
param location string

@secure()
@minLength(32)
@description('HMAC key that signs stream access tokens (STREAM_TOKEN_SECRET). Generate it: azd env set STREAM_TOKEN_SECRET "$(openssl rand -base64 48)"; azd prompts for it when unset.')
param streamTokenSecret string

@description('Name of the resource group; empty means rg-<environmentName>.')
param resourceGroupName string = ''

@allowed([512, 2048, 4096])
@description('Memory of each Flex Consumption instance, in MB.')
param instanceMemoryMB int = 2048

@minValue(40)
@maxValue(1000)
@description('Upper bound on the instances the app scales out to.')
param maximumInstanceCount int = 100

@minValue(1)
@maxValue(1000)
@description('Concurrent HTTP requests per instance. Each open stream holds one, and Python apps default to 1, so it is set here. Also used as MAX_CONCURRENT_STREAMS.')
param httpPerInstanceConcurrency int = 100

@minValue(10)
@maxValue(225)
@description('Planned end of each stream response in seconds (STREAM_MAX_SECONDS); Azure cuts HTTP responses at 230 s.')
param streamMaxSeconds int = 200

@description('How long events stay replayable after the last write (EVENT_RETENTION): seconds, or a number with s, m, h or d.')
param eventRetention string = '7d'

@description('Comma-separated browser origins allowed to call the API (CORS_ALLOWED_ORIGINS); empty allows none.')
param corsAllowedOrigins string = ''

@description('Create an Azure OpenAI account and model deployment, and use it (MODEL_PROVIDER=azure_openai). Otherwise the offline demo model answers.')
param deployAzureOpenAI bool = false

@description('Region of the Azure OpenAI account; empty means the main region.')
param openAiLocation string = ''

@description('Model deployed to Azure OpenAI; check that the model, version and SKU are offered in the region.')
param openAiModelName string = 'gpt-4.1-mini'

param openAiModelVersion string = '2025-04-14'

@allowed(['GlobalStandard', 'Standard', 'DataZoneStandard'])
param openAiDeploymentSku string = 'GlobalStandard'

@minValue(1)
@description('Deployment capacity in thousands of tokens per minute.')
param openAiDeploymentCapacity int = 30

@description('Create an Azure Managed Redis cache and use it as the event store (EVENT_STORE=redis). Otherwise Table storage in the app\'s storage account holds the events.')
param deployRedis bool = false

@allowed(['azureStorage', 'durableTaskScheduler'])
@description('Durable Functions backend: azureStorage (task hub in the app\'s storage account, queues polled) or durableTaskScheduler (a managed scheduler that pushes work to the app; lower dispatch latency, billed on its own).')
param durableBackend string = 'azureStorage'

@allowed(['Consumption', 'Dedicated'])
@description('SKU of the Durable Task Scheduler: Consumption (pay per action, up to 500 actions/s) or Dedicated (capacity units of 2,000 actions/s each).')
param durableTaskSchedulerSku string = 'Consumption'

@minValue(1)
@maxValue(3)
@description('Capacity units of a Dedicated scheduler (3 for high availability).')
param durableTaskSchedulerCapacity int = 1

@description('Object id of the user running azd (AZURE_PRINCIPAL_ID, set by azd); with the Durable Task Scheduler it gets read access to the scheduler\'s dashboard. Empty grants nobody.')
param principalId string = ''

var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var tags = { 'azd-env-name': environmentName }
var functionAppName = 'func-${resourceToken}'
// One container per app for its deployment package (Flex Consumption deploys from blob storage).
var deploymentContainerName = 'app-package-${take(functionAppName, 32)}'
// The Durable Functions task hub: queues and tables in storage, or a task hub resource in the scheduler.
var taskHubName = 'agentstream'
var useDurableTaskScheduler = durableBackend == 'durableTaskScheduler'

resource rg 'Microsoft.Resources/resourceGroups@2024-11-01' = {
  name: !empty(resourceGroupName) ? resourceGroupName : 'rg-${environmentName}'
  location: location
  tags: tags
}

module identity 'core/identity.bicep' = {
  name: 'identity'
  scope: rg
  params: {
    name: 'id-${resourceToken}'
    location: location
    tags: tags
  }
}

module monitoring 'core/monitoring.bicep' = {
  name: 'monitoring'
  scope: rg
  params: {
    logAnalyticsName: 'log-${resourceToken}'
    applicationInsightsName: 'appi-${resourceToken}'
    location: location
    tags: tags
  }
}

module storage 'core/storage.bicep' = {
  name: 'storage'
  scope: rg
  params: {
    name: 'st${resourceToken}'
    location: location
    tags: tags
    deploymentContainerName: deploymentContainerName
  }
}

module keyVault 'core/keyvault.bicep' = {
  name: 'keyvault'
  scope: rg
  params: {
    name: 'kv-${resourceToken}'
    location: location
    tags: tags
    streamTokenSecret: streamTokenSecret
  }
}

module openAi 'core/openai.bicep' = if (deployAzureOpenAI) {
  name: 'openai'
  scope: rg
  params: {
    name: 'oai-${resourceToken}'
    location: !empty(openAiLocation) ? openAiLocation : location
    tags: tags
    modelName: openAiModelName
    modelVersion: openAiModelVersion
    deploymentSku: openAiDeploymentSku
    deploymentCapacity: openAiDeploymentCapacity
  }
}

module redis 'core/redis.bicep' = if (deployRedis) {
  name: 'redis'
  scope: rg
  params: {
    name: 'redis-${resourceToken}'
    location: location
    tags: tags
    keyVaultName: keyVault.outputs.name
  }
}

module durableTask 'core/durabletask.bicep' = if (useDurableTaskScheduler) {
  name: 'durabletask'
  scope: rg
  params: {
    name: 'dts-${resourceToken}'
    location: location
    tags: tags
    taskHubName: taskHubName
    skuName: durableTaskSchedulerSku
    skuCapacity: durableTaskSchedulerCapacity
    dashboardPrincipalId: principalId
  }
}

module rbac 'app/rbac.bicep' = {
  name: 'rbac'
  scope: rg
  params: {
    principalId: identity.outputs.principalId
    storageAccountName: storage.outputs.name
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    keyVaultName: keyVault.outputs.name
    openAiAccountName: deployAzureOpenAI ? openAi.outputs.name : ''
    durableTaskSchedulerName: useDurableTaskScheduler ? durableTask.outputs.name : ''
  }
}

module api 'app/api.bicep' = {
  name: 'api'
  scope: rg
  // The app's first start needs its roles (storage, Key Vault references) in place.
  dependsOn: [rbac]
  params: {
    name: functionAppName
    planName: 'plan-${resourceToken}'
    location: location
    tags: tags
    identityId: identity.outputs.id
    identityClientId: identity.outputs.clientId
    storageAccountName: storage.outputs.name
    deploymentContainerName: deploymentContainerName
    applicationInsightsConnectionString: monitoring.outputs.connectionString
    instanceMemoryMB: instanceMemoryMB
    maximumInstanceCount: maximumInstanceCount
    httpPerInstanceConcurrency: httpPerInstanceConcurrency
    streamMaxSeconds: streamMaxSeconds
    eventRetention: eventRetention
    corsAllowedOrigins: corsAllowedOrigins
    streamTokenSecretUri: keyVault.outputs.streamTokenSecretUri
    openAiEndpoint: deployAzureOpenAI ? openAi.outputs.endpoint : ''
    openAiDeploymentName: deployAzureOpenAI ? openAi.outputs.deploymentName : ''
    redisUrlSecretUri: deployRedis ? redis.outputs.redisUrlSecretUri : ''
    taskHubName: taskHubName
    durableTaskSchedulerEndpoint: useDurableTaskScheduler ? durableTask.outputs.endpoint : ''
  }
}

output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_FUNCTION_NAME string = api.outputs.name
output AZURE_FUNCTION_URL string = api.outputs.url
output AZURE_KEY_VAULT_NAME string = keyVault.outputs.name
output AZURE_STORAGE_ACCOUNT_NAME string = storage.outputs.name
output AZURE_OPENAI_ENDPOINT string = deployAzureOpenAI ? openAi.outputs.endpoint : ''
output AZURE_DURABLE_TASK_SCHEDULER_ENDPOINT string = useDurableTaskScheduler ? durableTask.outputs.endpoint : ''
output APPLICATIONINSIGHTS_NAME string = monitoring.outputs.applicationInsightsName
