import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { nodeId } from "../../src/consensus/types.js";
import { identityFileName, memberIdentityOf } from "../../src/server/identity.js";

test("a data dir keeps the ids its member was created with, whatever later flags derive", () => {
  const dir = mkdtempSync(join(tmpdir(), "synod-identity-"));
  try {
    const lines: string[] = [];
    const first = memberIdentityOf(join(dir, "m4"), { memberId: 0xa2961a2b2ac40d2n, nodeId: nodeId(4242) }, (l) => lines.push(l));
    assert.deepEqual(first, { memberId: 0xa2961a2b2ac40d2n, nodeId: 4242 });
    assert.equal(lines.length, 0);
    // After MemberUpdate the flags carry new peer URLs, from which other ids would derive.
    const again = memberIdentityOf(join(dir, "m4"), { memberId: 0x1234n, nodeId: nodeId(77) }, (l) => lines.push(l));
    assert.deepEqual(again, first);
    assert.equal(lines.length, 1);
    assert.match(lines[0] ?? "", /a2961a2b2ac40d2/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a damaged identity file stops the start with a clear error", () => {
  const dir = mkdtempSync(join(tmpdir(), "synod-identity-"));
  try {
    for (const text of ["", "{}", '{"memberId":"12","nodeId":0}', '{"memberId":"x1","nodeId":3}', "not json"]) {
      writeFileSync(join(dir, identityFileName), text);
      assert.throws(() => memberIdentityOf(dir, { memberId: 1n, nodeId: nodeId(1) }, () => undefined), /is not a member identity/);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
