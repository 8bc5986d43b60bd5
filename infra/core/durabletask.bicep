// Durable Task Scheduler: a managed Durable Functions backend that pushes work to the app over gRPC
// instead of the app polling storage queues. Deployed only with durableBackend=durableTaskScheduler.
param name string
param location string
param tags object
@description('Task hub the app runs in; the same name as host.json hubName (TASK_HUB_NAME).')
param taskHubName string
@allowed(['Consumption', 'Dedicated'])
param skuName string
@minValue(1)
@maxValue(3)
@description('Capacity units of the Dedicated SKU; the Consumption SKU has none.')
param skuCapacity int
@description('Principal given read access to the scheduler\'s dashboard (the azd user); empty grants nobody.')
param dashboardPrincipalId string = ''

var durableTaskDataReader = 'd6a5505f-6ebb-45a4-896e-ac8274cfc0ac'
// Capacity units exist only on the Dedicated SKU.
var isDedicated = skuName == 'Dedicated'

resource scheduler 'Microsoft.DurableTask/schedulers@2025-11-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    // An empty list refuses every caller. Flex Consumption has no fixed outbound addresses, so the
    // scheduler takes any address and relies on Entra ID: only identities holding a Durable Task role get in.
    ipAllowlist: ['0.0.0.0/0']
    sku: isDedicated ? {
      name: skuName
      capacity: skuCapacity
    } : {
      name: skuName
    }
  }
}

resource taskHub 'Microsoft.DurableTask/schedulers/taskHubs@2025-11-01' = {
  parent: scheduler
  name: taskHubName
}

// The dashboard (https://dashboard.durabletask.io) signs the user in and needs a data-plane role:
// owning the subscription is not enough.
resource dashboardReader 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(dashboardPrincipalId)) {
  name: guid(scheduler.id, dashboardPrincipalId, durableTaskDataReader)
  scope: scheduler
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', durableTaskDataReader)
    principalId: dashboardPrincipalId
  }
}

output name string = scheduler.name
output endpoint string = scheduler.properties.endpoint
output taskHubName string = taskHub.name
