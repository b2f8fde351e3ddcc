-- ArgoCD health check for turbine.dev/TurbineStack.
--
-- TurbineStack is kstatus-compliant (Ready always present; Reconciling and Stalled present only while True;
-- status.observedGeneration written on every reconcile), so this follows the kstatus order, like the
-- pulumi.com/Stack script:
--   0. metadata.deletionTimestamp set, whatever the conditions say                -> Progressing "Pending deletion"
--   1. status.observedGeneration behind metadata.generation (or no status yet) -> Progressing
--   2. spec.suspend true, once the operator has seen it                          -> Suspended
--   3. Stalled=True (create failed, rolled back, stack DELETE_FAILED, not owned)  -> Degraded
--   4. Reconciling=True (change set or stack operation in flight, retrying)       -> Progressing
--   5. Ready=True                                                                 -> Healthy
--   6. anything else (Ready=False ChangeSetAwaitingApproval, no Ready yet)         -> Progressing
-- Rule 0 is what ArgoCD itself reports for an object being deleted, before any health script runs
-- (gitops-engine pkg/health GetResourceHealth), so a failed or refused delete is never Degraded in ArgoCD; the
-- script says the same when run on its own (`argocd admin settings resource-overrides health`, the tests).
-- Written for gopher-lua (Lua 5.1); tests/deploy/test_argocd_health.py runs it on every state the operator
-- produces.
local hs = {}

local function find_condition(conditions, kind)
  if conditions == nil then
    return nil
  end
  for _, condition in ipairs(conditions) do
    if condition.type == kind then
      return condition
    end
  end
  return nil
end

local function describe(condition, fallback)
  if condition == nil then
    return fallback
  end
  local reason = condition.reason or ""
  local message = condition.message or ""
  if reason ~= "" and message ~= "" then
    return reason .. ": " .. message
  end
  if message ~= "" then
    return message
  end
  if reason ~= "" then
    return reason
  end
  return fallback
end

local status = obj.status
local generation = nil
if obj.metadata ~= nil then
  generation = obj.metadata.generation
end

if obj.metadata ~= nil and obj.metadata.deletionTimestamp ~= nil then
  hs.status = "Progressing"
  hs.message = "Pending deletion"
  return hs
end

if status == nil or status.observedGeneration == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to reconcile the TurbineStack"
  return hs
end

if generation ~= nil and status.observedGeneration ~= generation then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to observe generation " .. tostring(generation) ..
    " (observed " .. tostring(status.observedGeneration) .. ")"
  return hs
end

if obj.spec ~= nil and obj.spec.suspend == true then
  hs.status = "Suspended"
  hs.message = "spec.suspend is true: the operator makes no AWS calls for this stack"
  return hs
end

local conditions = status.conditions
local stalled = find_condition(conditions, "Stalled")
if stalled ~= nil and stalled.status == "True" then
  hs.status = "Degraded"
  hs.message = describe(stalled, "Stalled")
  return hs
end

local reconciling = find_condition(conditions, "Reconciling")
if reconciling ~= nil and reconciling.status == "True" then
  hs.status = "Progressing"
  hs.message = describe(reconciling, "Reconciling")
  return hs
end

local ready = find_condition(conditions, "Ready")
if ready ~= nil and ready.status == "True" then
  hs.status = "Healthy"
  hs.message = describe(ready, "Ready")
  local drifted = find_condition(conditions, "Drifted")
  if drifted ~= nil and drifted.status == "True" then
    -- Drift does not change readiness (kstatus agrees); say it anyway.
    hs.message = hs.message .. "; drifted: " .. describe(drifted, "Drifted")
  end
  return hs
end

hs.status = "Progressing"
hs.message = describe(ready, "Waiting for the Ready condition")
return hs
