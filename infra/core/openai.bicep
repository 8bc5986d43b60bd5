// Optional Azure OpenAI account and one model deployment. Key auth is off: the app calls it with
// its managed identity (Cognitive Services OpenAI User, granted in rbac.bicep).
param name string
param location string
param tags object
param modelName string
param modelVersion string
param deploymentSku string
param deploymentCapacity int

resource account 'Microsoft.CognitiveServices/accounts@2024-10-01' = {
  // checkov:skip=CKV_AZURE_238: the account calls no other Azure service, so it needs no identity of its own; callers use theirs
  // checkov:skip=CKV_AZURE_134: the app runs without VNet integration, so it reaches this service over its public endpoint; access needs an Entra ID token and a data-plane role
  name: name
  location: location
  tags: tags
  kind: 'OpenAI'
  sku: {
    name: 'S0'
  }
  properties: {
    customSubDomainName: name
    disableLocalAuth: true
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      defaultAction: 'Allow'
    }
  }
}

resource deployment 'Microsoft.CognitiveServices/accounts/deployments@2024-10-01' = {
  parent: account
  name: modelName
  sku: {
    name: deploymentSku
    capacity: deploymentCapacity
  }
  properties: {
    model: {
      format: 'OpenAI'
      name: modelName
      version: modelVersion
    }
  }
}

output name string = account.name
output endpoint string = account.properties.endpoint
output deploymentName string = deployment.name
