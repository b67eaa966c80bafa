-- Argo CD health check for emrserverless.operator.dev/EmrServerlessApplication and
-- emrserverless.operator.dev/EmrServerlessJobRun (the same script under both keys).
--
-- Reads the kstatus conditions the operator writes (Ready, Reconciling, Stalled; each with
-- observedGeneration, reason and message):
--   Progressing  no status yet, a generation the operator has not reconciled yet, Reconciling=True,
--                or Ready=False with a reason that means "waiting" (WaitingForStop, Creating, ...)
--   Suspended    Reconciling=True, held until something else exists: a job run whose
--                EmrServerlessApplication is missing or not bound yet (WaitingForApplication)
--   Degraded     Stalled=True (the message says what to fix: a bad key, a null in spec (NullValue),
--                an update AWS does not reflect (NotConverging), another writer that keeps
--                undoing the operator's corrections (ExternalChangeFight),
--                a job run that FAILED or was CANCELLED, ...), or Ready=False for any other reason
--   Healthy      Ready=True, reconciled for the current generation (a job run: SUCCESS)
--
-- Argo CD runs custom health checks without the Lua string, math and os libraries, in gopher-lua
-- (Lua 5.1): this script uses plain comparisons and concatenation only.
-- Keep argocd/argocd-cm-patch.yaml equal to this file (test/unit/argocd/health.test.ts checks).

local WAITING = {
  Creating = true,
  Updating = true,
  Stopping = true,
  Restarting = true,
  Deleting = true,
  Claiming = true,
  Observing = true,
  WaitingForStop = true,
  WaitingForJobRuns = true,
  WaitingForSessions = true,
  WaitingForState = true,
  ApplicationStateChanged = true,
  Submitting = true,
  InProgress = true,
  Cancelling = true,
  AwsThrottled = true,
  AwsUnavailable = true,
  AwsConflict = true,
}

-- Reconciling reasons that wait for another resource rather than make progress.
local SUSPENDED = {
  WaitingForApplication = true,
}

local function condition(conditions, conditionType)
  if conditions == nil then
    return nil
  end
  for _, c in ipairs(conditions) do
    if c.type == conditionType then
      return c
    end
  end
  return nil
end

local function messageOf(c, fallback)
  if c ~= nil and c.message ~= nil and c.message ~= "" then
    return c.message
  end
  if c ~= nil and c.reason ~= nil and c.reason ~= "" then
    return c.reason
  end
  return fallback
end

-- A condition is current when it was written for this generation (conditions without
-- observedGeneration follow status.observedGeneration).
local function current(c, status, generation)
  if generation == nil then
    return true
  end
  local observed = c.observedGeneration
  if observed == nil then
    observed = status.observedGeneration
  end
  return observed ~= nil and observed >= generation
end

local hs = {}
local generation = nil
if obj.metadata ~= nil then
  generation = obj.metadata.generation
end
local status = obj.status

if status == nil or status.conditions == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to reconcile this resource."
  return hs
end

if generation ~= nil and (status.observedGeneration == nil or status.observedGeneration < generation) then
  hs.status = "Progressing"
  if obj.metadata.deletionTimestamp ~= nil then
    hs.message = "Deletion requested; waiting for the operator."
  else
    hs.message = "Waiting for the operator to reconcile generation " .. generation .. "."
  end
  return hs
end

local ready = condition(status.conditions, "Ready")
local reconciling = condition(status.conditions, "Reconciling")
local stalled = condition(status.conditions, "Stalled")

if stalled ~= nil and stalled.status == "True" and current(stalled, status, generation) then
  hs.status = "Degraded"
  hs.message = messageOf(stalled, "The operator cannot make progress.")
  return hs
end

if reconciling ~= nil and reconciling.status == "True" then
  if reconciling.reason ~= nil and SUSPENDED[reconciling.reason] then
    hs.status = "Suspended"
  else
    hs.status = "Progressing"
  end
  hs.message = messageOf(reconciling, "Reconciling.")
  return hs
end

if ready == nil or not current(ready, status, generation) then
  hs.status = "Progressing"
  if generation ~= nil then
    hs.message = "Waiting for the operator to reconcile generation " .. generation .. "."
  else
    hs.message = "Waiting for the operator to reconcile this resource."
  end
  return hs
end

if ready.status == "True" then
  hs.status = "Healthy"
  hs.message = messageOf(ready, "Ready.")
  return hs
end

if ready.status == "False" and ready.reason ~= nil and SUSPENDED[ready.reason] then
  hs.status = "Suspended"
  hs.message = messageOf(ready, "Waiting.")
  return hs
end

if ready.status == "False" and ready.reason ~= nil and WAITING[ready.reason] then
  hs.status = "Progressing"
  hs.message = messageOf(ready, "Waiting.")
  return hs
end

if ready.status == "False" then
  hs.status = "Degraded"
  hs.message = messageOf(ready, "Not ready.")
  return hs
end

hs.status = "Progressing"
hs.message = messageOf(ready, "Waiting for the operator to reconcile this resource.")
return hs
