/** JsonValueSplitter: a body cut into its JSON values however the bytes arrive, within its bound. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { JsonEndError, JsonValueSplitter, JsonValueTooLargeError } from "../../src/api/http/json-values.js";

/** splitAll feeds `text` in chunks of `chunkBytes` and returns every value, the end included. */
function splitAll(text: string, chunkBytes: number): string[] {
  const splitter = new JsonValueSplitter(1_000);
  const bytes = Buffer.from(text, "utf8");
  const values: string[] = [];
  for (let i = 0; i < bytes.length; i += chunkBytes) values.push(...splitter.feed(bytes.subarray(i, i + chunkBytes)));
  values.push(...splitter.end());
  return values;
}

const cases: readonly (readonly [string, readonly string[]])[] = [
  ["", []],
  ["  \n ", []],
  ['{"a":1}', ['{"a":1}']],
  ['{"a":1}{"b":[2,{"c":"}"}]}', ['{"a":1}', '{"b":[2,{"c":"}"}]}']],
  [' {"s":"quote \\" and \\\\"} \n {"k":"é✓"} ', ['{"s":"quote \\" and \\\\"}', '{"k":"é✓"}']],
  ["[1,2] 3 true{}", ["[1,2]", "3", "true", "{}"]],
  ['"a string"{"x":null}', ['"a string"', '{"x":null}']],
  ["xx", ["x", "x"]],
];

test("values come out whole and in order, whatever the chunk size", () => {
  for (const [text, expected] of cases) {
    for (const chunkBytes of [1, 2, 3, 7, 1_000]) assert.deepEqual(splitAll(text, chunkBytes), expected, `${JSON.stringify(text)} in chunks of ${chunkBytes}`);
  }
});

test("a body ending inside a value is Go's unexpected EOF", () => {
  for (const text of ['{"a":', '["x"', '"open']) assert.throws(() => splitAll(text, 2), JsonEndError);
});

test("a value over the bound is refused, complete or not", () => {
  const splitter = new JsonValueSplitter(10);
  assert.deepEqual(splitter.feed(Buffer.from('{"a":1234} {"b":')), ['{"a":1234}']);
  assert.equal(splitter.idle, false);
  const fresh = new JsonValueSplitter(10);
  assert.throws(() => fresh.feed(Buffer.from('{"a":"0123456789"}')), JsonValueTooLargeError);
  const chunked = new JsonValueSplitter(10);
  chunked.feed(Buffer.from('{"a":"01'));
  assert.throws(() => chunked.feed(Buffer.from('23456789"}')), JsonValueTooLargeError);
});
