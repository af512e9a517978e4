import { MemoryStore } from "../../src/kv/memory-store.js";
import { MvccStore } from "../../src/kv/mvcc-store.js";
import type { Applied, MvccOptions } from "../../src/kv/mvcc-store.js";
import type { KvResult } from "../../src/kv/errors.js";
import { WatchHub } from "../../src/kv/watch-hub.js";
import type { WatchHubOptions, WatchResponse, WatchSink } from "../../src/kv/watch-hub.js";
import { EventType } from "../../src/kv/types.js";
import type { KvEvent } from "../../src/kv/types.js";
import { b, str, unwrap } from "./helpers.js";

/** Recorder is a sink that keeps every response; while `full` it answers false (a slow consumer). */
export class Recorder implements WatchSink {
  readonly responses: WatchResponse[] = [];
  full = false;

  send(response: WatchResponse): boolean {
    this.responses.push(response);
    return !this.full;
  }

  /** of lists the responses of one watch id. */
  of(watchId: number): WatchResponse[] {
    return this.responses.filter((r) => r.watchId === watchId);
  }

  /** eventsOf lists the events delivered to one watch, as readable strings. */
  eventsOf(watchId: number): string[] {
    return this.of(watchId).flatMap((r) => r.events.map(eventString));
  }
}

/** eventString renders an event with everything a watcher can see. */
export function eventString(e: KvEvent): string {
  const type = e.type === EventType.PUT ? "PUT" : "DELETE";
  const kv = `${str(e.kv.key)}=${str(e.kv.value)}@${e.kv.createRevision}/${e.kv.modRevision}/${e.kv.version}/l${e.kv.lease}`;
  const prev = e.prevKv === undefined ? "" : ` prev ${str(e.prevKv.value)}@${e.prevKv.modRevision}`;
  return `${type} ${kv}${prev}`;
}

/**
 * Member is one member's KV state with a watch hub driven as the server
 * drives it: every applied write's events go to `onApplied`. `log` keeps
 * every event ever applied, with its previous value.
 */
export class Member {
  readonly store = new MemoryStore();
  readonly mvcc: MvccStore;
  readonly hub: WatchHub;
  readonly log: KvEvent[] = [];

  constructor(hubOptions: WatchHubOptions = {}, mvccOptions: MvccOptions = {}) {
    this.mvcc = new MvccStore(this.store, mvccOptions);
    this.hub = new WatchHub(this.mvcc, hubOptions);
  }

  /** applied reports a write's events to the hub and returns its response. */
  applied<R>(result: KvResult<Applied<R>>): R {
    const { response, events } = unwrap(result);
    this.log.push(...events);
    if (events.length > 0) this.hub.onApplied(this.mvcc.revision, events);
    return response;
  }

  put(key: string, value: string): number {
    return this.applied(this.mvcc.put({ key: b(key), value: b(value) })).header.revision;
  }

  del(key: string, rangeEnd?: string): number {
    const request = rangeEnd === undefined ? { key: b(key) } : { key: b(key), rangeEnd: b(rangeEnd) };
    return this.applied(this.mvcc.deleteRange(request)).deleted;
  }

  /** settle resumes every sink and pumps until no watcher is behind (bounded). */
  settle(recorders: readonly { recorder: Recorder; resume(): void }[]): void {
    for (let i = 0; i < 10_000; i++) {
      for (const r of recorders) {
        r.recorder.full = false;
        r.resume();
      }
      if (this.hub.unsyncedCount === 0) return;
      this.hub.pump();
    }
    throw new Error("settle: watchers never caught up");
  }
}
