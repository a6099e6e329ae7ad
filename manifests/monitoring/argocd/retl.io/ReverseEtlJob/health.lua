-- Argo CD health check for retl.io/ReverseEtlJob.
--
-- Install: argocd-cm key resource.customizations.health.retl.io_ReverseEtlJob
-- (see docs/monitoring.md), or contribute this directory to Argo CD's
-- resource_customizations/. Order of the rules:
--   1. the controller has not processed the current generation  -> Progressing
--   2. Stalled=True (invalid spec, rejected run pod, ...)         -> Degraded
--   3. Reconciling=True (a run is in progress)                    -> Progressing
--   4. spec.suspend                                               -> Suspended
--   5. LastRunSucceeded=False (Failed, ThresholdExceeded)         -> Degraded
--   6. Ready=True                                                 -> Healthy
--   otherwise                                                     -> Progressing
local hs = {}

local function condition(ctype)
  if obj.status == nil or obj.status.conditions == nil then
    return nil
  end
  for _, c in ipairs(obj.status.conditions) do
    if c.type == ctype then
      return c
    end
  end
  return nil
end

local function describe(c, fallback)
  if c == nil then
    return fallback
  end
  if c.message ~= nil and c.message ~= "" then
    if c.reason ~= nil and c.reason ~= "" then
      return c.reason .. ": " .. c.message
    end
    return c.message
  end
  if c.reason ~= nil and c.reason ~= "" then
    return c.reason
  end
  return fallback
end

local generation = obj.metadata.generation
local observed = nil
if obj.status ~= nil then
  observed = obj.status.observedGeneration
end

if obj.status == nil or observed == nil or (generation ~= nil and observed < generation) then
  hs.status = "Progressing"
  if generation ~= nil then
    hs.message = string.format("Waiting for the controller to observe generation %d", generation)
  else
    hs.message = "Waiting for the controller to observe the job"
  end
  return hs
end

local ready = condition("Ready")
local reconciling = condition("Reconciling")
local stalled = condition("Stalled")
local lastRun = condition("LastRunSucceeded")

-- A condition computed for an older generation says nothing about this one.
if ready ~= nil and ready.observedGeneration ~= nil and generation ~= nil
    and ready.observedGeneration < generation then
  hs.status = "Progressing"
  hs.message = string.format("Waiting for the Ready condition of generation %d", generation)
  return hs
end

if stalled ~= nil and stalled.status == "True" then
  hs.status = "Degraded"
  hs.message = describe(stalled, "The job is stalled")
  return hs
end

if reconciling ~= nil and reconciling.status == "True" then
  hs.status = "Progressing"
  hs.message = describe(reconciling, "A run is in progress")
  return hs
end

if obj.spec ~= nil and obj.spec.suspend == true then
  hs.status = "Suspended"
  hs.message = describe(ready, "Scheduled runs are suspended")
  return hs
end

if lastRun ~= nil and lastRun.status == "False" then
  hs.status = "Degraded"
  hs.message = describe(lastRun, "The last run failed")
  return hs
end

if ready ~= nil and ready.status == "True" then
  hs.status = "Healthy"
  hs.message = describe(ready, "Ready")
  return hs
end

hs.status = "Progressing"
hs.message = describe(ready, "Waiting for the Ready condition")
return hs
