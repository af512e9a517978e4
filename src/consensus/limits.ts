/**
 * defaultEngineLimits are the timing and bounds both engines share, with
 * production values: ticks for elections and heartbeats, and the named limits
 * on messages, in-flight traffic, uncommitted data, entries and pending reads.
 */
export const defaultEngineLimits = {
  electionTimeoutTicks: 10,
  heartbeatTicks: 1,
  appendEntriesMax: 256,
  appendBytesMax: 1024 * 1024,
  inflightMessagesMax: 256,
  inflightBytesMax: 16 * 1024 * 1024,
  uncommittedBytesMax: 64 * 1024 * 1024,
  entryBytesMax: 2 * 1024 * 1024,
  readsPendingMax: 4096,
} as const;
