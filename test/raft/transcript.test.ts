import assert from "node:assert/strict";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { nodeId } from "../../src/consensus/types.js";
import type { ConfChangeOp, NodeId } from "../../src/consensus/types.js";
import { bytes, Cluster } from "./harness.js";

/**
 * Transcript tests: each file in testdata/ is a script of commands (lines
 * starting with "> ") each followed by the output it must produce. Run with
 * REWRITE=1 to regenerate the expected output after an intended change, then
 * read the diff.
 *
 * Commands:
 *   add-nodes N [key=value…]   a new cluster of voters 1..N (config overrides)
 *   join ID                    start an empty node that waits to be contacted
 *   campaign ID                tick ID alone until it campaigns, then deliver everything
 *   tick N                     tick every node N times, delivering in between
 *   stabilize                  deliver messages until the network is quiet
 *   propose ID TEXT            propose TEXT on node ID
 *   conf ID OP:NODE…           propose a membership change (voter:4 learner:4 remove:2)
 *   read ID REQUEST            ask node ID for a read index
 *   transfer ID TO             ask leader ID to hand leadership to TO
 *   compact ID                 snapshot node ID at its applied index
 *   isolate ID | heal          cut a node off, or reconnect everybody
 *   crash ID | restart ID      lose a node's memory, or restart it from its disk
 *   status                     one line per running node
 *   applied ID                 the data node ID has applied
 *   reads ID                   read states node ID has received
 */

function run(cluster: { c: Cluster | undefined }, line: string): string[] {
  const [command = "", ...args] = line.trim().split(/\s+/);
  const c = (): Cluster => {
    if (cluster.c === undefined) throw new Error("add-nodes first");
    return cluster.c;
  };
  const id = (i: number): number => {
    const v = Number(args[i]);
    if (!Number.isInteger(v)) throw new Error(`bad node id in: ${line}`);
    return v;
  };
  switch (command) {
    case "add-nodes": {
      const n = id(0);
      const overrides: Record<string, number | boolean> = {};
      for (const kv of args.slice(1)) {
        const [k, v] = kv.split("=");
        if (k === undefined || v === undefined) throw new Error(`bad override ${kv}`);
        overrides[k] = v === "true" ? true : v === "false" ? false : Number(v);
      }
      cluster.c = new Cluster(
        Array.from({ length: n }, (_, i) => i + 1),
        overrides,
      );
      return [];
    }
    case "join":
      c().addNode(nodeId(id(0)));
      return [];
    case "campaign":
      c().campaign(id(0));
      return [];
    case "tick":
      c().tick(id(0));
      return [];
    case "stabilize":
      c().stabilize();
      return [];
    case "propose":
      return [JSON.stringify(c().engine(id(0)).propose(bytes(args.slice(1).join(" "))))];
    case "conf": {
      const ops: ConfChangeOp[] = args.slice(1).map((spec) => {
        const [op, node] = spec.split(":");
        const n: NodeId = nodeId(Number(node));
        if (op === "voter") return { type: "addVoter", node: n };
        if (op === "learner") return { type: "addLearner", node: n };
        if (op === "remove") return { type: "removeNode", node: n };
        throw new Error(`bad op ${spec}`);
      });
      return [JSON.stringify(c().engine(id(0)).proposeConfChange({ ops }))];
    }
    case "read":
      return [JSON.stringify(c().engine(id(0)).readIndex(id(1)))];
    case "transfer":
      return [JSON.stringify(c().engine(id(0)).transferLeadership(nodeId(id(1))))];
    case "compact": {
      const e = c().engine(id(0));
      return [JSON.stringify(e.compact(e.status().appliedIndex, bytes("snapshot")))];
    }
    case "isolate":
      c().isolate(id(0));
      return [];
    case "heal":
      c().heal();
      return [];
    case "crash":
      c().crash(nodeId(id(0)));
      return [];
    case "restart":
      c().start(nodeId(id(0)));
      return [];
    case "status":
      return [...c().engines.entries()]
        .sort(([a], [b]) => a - b)
        .map(([n, e]) => {
          const s = e.status();
          const m = s.membership;
          const joint = m.votersOutgoing.length > 0 ? `&&(${m.votersOutgoing.join(",")})` : "";
          const learners = m.learners.length > 0 ? ` learners=(${m.learners.join(",")})` : "";
          return `${n}: ${s.role} term=${s.term} leader=${s.leader} commit=${s.commitIndex} applied=${s.appliedIndex} log=[${s.firstIndex},${s.lastIndex}] voters=(${m.voters.join(",")})${joint}${learners}`;
        });
    case "applied":
      return [c().appliedData(id(0)).join(" ") || "(none)"];
    case "reads":
      return [JSON.stringify(c().reads.get(nodeId(id(0))) ?? [])];
    default:
      throw new Error(`unknown command: ${line}`);
  }
}

/** replay runs a transcript and returns it with freshly produced outputs. */
function replay(text: string): string {
  const out: string[] = [];
  const cluster: { c: Cluster | undefined } = { c: undefined };
  for (const line of text.split("\n")) {
    if (line.startsWith("> ")) {
      out.push(line);
      out.push(...run(cluster, line.slice(2)));
    } else if (line.startsWith("#") || line.trim() === "") {
      out.push(line);
    }
  }
  return out.join("\n");
}

const dir = join(import.meta.dirname, "testdata");
for (const file of readdirSync(dir).filter((f) => f.endsWith(".txt")).sort()) {
  test(`transcript ${file}`, () => {
    const path = join(dir, file);
    const expected = readFileSync(path, "utf8");
    const actual = replay(expected);
    if (process.env["REWRITE"] === "1") {
      writeFileSync(path, actual.endsWith("\n") ? actual : `${actual}\n`);
      return;
    }
    assert.equal(actual.trimEnd(), expected.trimEnd());
  });
}
