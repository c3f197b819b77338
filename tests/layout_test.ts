import { assert, assertEquals, assertThrows } from "@std/assert";
import {
  array,
  bool,
  char,
  f32,
  f64,
  i16,
  i32,
  i64,
  i8,
  struct,
  u16,
  u32,
  u64,
  u8,
} from "../memory/layout.ts";
import { MAP, O, PROT, SC } from "../ffi/constants.ts";
import { O_NONBLOCK, STAT_LAYOUT } from "../ffi/stat.ts";
import { SEM_ALIGN, SEM_T_SIZE, SEM_VALUE_MAX } from "../posix/semaphore.ts";
import { compileC, hasCC, runExe } from "./_helpers.ts";

const UserRecord = struct({ user_id: i32, username: char(64) });
const Inner = struct({ c: i8, d: f64 });
const Mixed = struct({
  a: char(3),
  b: f64,
  c: i16,
  d: i64,
  e: u8,
  inner: Inner,
  arr: array(u16, 3),
  f: f32,
  g: bool,
  recs: array(Inner, 2),
  names: array(char(5), 3),
  tail: u8,
});
const Small = struct({ x: u8, y: u32, z: u8 });
const Wide = struct({ q: u64, r: i8 });

const C_SOURCE = `
#include <fcntl.h>
#include <limits.h>
#include <semaphore.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
struct shared_user_record { int user_id; char username[64]; };
struct inner { int8_t c; double d; };
struct mixed { char a[3]; double b; int16_t c; int64_t d; uint8_t e; struct inner inner; uint16_t arr[3];
  float f; bool g; struct inner recs[2]; char names[3][5]; uint8_t tail; };
struct small { uint8_t x; uint32_t y; uint8_t z; };
struct wide { uint64_t q; int8_t r; };
#define S(t) printf(#t " size %zu align %zu\\n", sizeof(struct t), _Alignof(struct t))
#define F(t, f) printf(#t "." #f " %zu\\n", offsetof(struct t, f))
#define K(n) printf("const " #n " %ld\\n", (long)(n))
int main(void) {
  S(shared_user_record); F(shared_user_record, user_id); F(shared_user_record, username);
  S(inner); F(inner, d);
  S(mixed); F(mixed, b); F(mixed, c); F(mixed, d); F(mixed, e); F(mixed, inner); F(mixed, arr); F(mixed, f);
  F(mixed, g); F(mixed, recs); F(mixed, names); F(mixed, tail);
  S(small); F(small, y); F(small, z);
  S(wide); F(wide, r);
  K(O_RDONLY); K(O_RDWR); K(O_CREAT); K(O_EXCL); K(O_NOFOLLOW); K(O_CLOEXEC); K(O_NONBLOCK);
  K(PROT_NONE); K(PROT_READ); K(PROT_WRITE);
  K(MAP_SHARED); K(MAP_PRIVATE); K(MAP_FIXED); K(MAP_ANONYMOUS); K(MAP_NORESERVE); K(_SC_PAGESIZE);
  K(sizeof(sem_t)); K(_Alignof(sem_t)); K(SEM_VALUE_MAX);
  K(sizeof(struct stat)); K(offsetof(struct stat, st_mode)); K(offsetof(struct stat, st_uid));
  K(offsetof(struct stat, st_gid)); K(offsetof(struct stat, st_size)); K(offsetof(struct stat, st_mtim));
  K(offsetof(struct stat, st_ctim));
  return 0;
}`;

Deno.test({
  name: "struct layouts, flag constants and struct stat match the C compiler's sizeof/offsetof",
  ignore: !hasCC,
  async fn() {
    const exe = await compileC(C_SOURCE);
    const r = await runExe(exe);
    assertEquals(r.code, 0, r.stderr);
    const c = new Map<string, number>();
    for (const line of r.stdout.trim().split("\n")) {
      const m = line.match(/^(\S+) size (\d+) align (\d+)$/);
      if (m) {
        c.set(`${m[1]}.size`, Number(m[2]));
        c.set(`${m[1]}.align`, Number(m[3]));
        continue;
      }
      const text = line.startsWith("const ") ? line.slice(6) : line;
      const cut = text.lastIndexOf(" ");
      c.set(text.slice(0, cut), Number(text.slice(cut + 1)));
    }
    const layouts = {
      shared_user_record: UserRecord,
      inner: Inner,
      mixed: Mixed,
      small: Small,
      wide: Wide,
    };
    for (const [cName, layout] of Object.entries(layouts)) {
      assertEquals(layout.size, c.get(`${cName}.size`), `sizeof(struct ${cName})`);
      assertEquals(layout.align, c.get(`${cName}.align`), `_Alignof(struct ${cName})`);
      for (const [field, offset] of Object.entries(layout.offsets)) {
        if (c.has(`${cName}.${field}`)) {
          assertEquals(offset, c.get(`${cName}.${field}`), `offsetof(${cName}, ${field})`);
        }
      }
    }
    assertEquals(UserRecord.size, 68);
    const consts: [string, number][] = [
      ["O_RDONLY", O.RDONLY],
      ["O_RDWR", O.RDWR],
      ["O_CREAT", O.CREAT],
      ["O_EXCL", O.EXCL],
      ["O_NOFOLLOW", O.NOFOLLOW],
      ["O_CLOEXEC", O.CLOEXEC],
      ["O_NONBLOCK", O_NONBLOCK],
      ["PROT_NONE", PROT.NONE],
      ["PROT_READ", PROT.READ],
      ["PROT_WRITE", PROT.WRITE],
      ["MAP_SHARED", MAP.SHARED],
      ["MAP_PRIVATE", MAP.PRIVATE],
      ["MAP_FIXED", MAP.FIXED],
      ["MAP_ANONYMOUS", MAP.ANONYMOUS],
      ["MAP_NORESERVE", MAP.NORESERVE],
      ["_SC_PAGESIZE", SC.PAGESIZE],
      ["sizeof(sem_t)", SEM_T_SIZE],
      ["_Alignof(sem_t)", SEM_ALIGN],
      ["SEM_VALUE_MAX", SEM_VALUE_MAX],
    ];
    for (const [name, value] of consts) assertEquals(value, c.get(name), name);
    const st = STAT_LAYOUT[Deno.build.arch === "aarch64" ? "aarch64" : "x86_64"];
    assertEquals(st.size, c.get("sizeof(struct stat)"));
    assertEquals(st.mode, c.get("offsetof(struct stat, st_mode)"));
    assertEquals(st.uid, c.get("offsetof(struct stat, st_uid)"));
    assertEquals(st.gid, c.get("offsetof(struct stat, st_gid)"));
    assertEquals(st.size_, c.get("offsetof(struct stat, st_size)"));
    assertEquals(st.mtime, c.get("offsetof(struct stat, st_mtim)"));
    assertEquals(st.ctime, c.get("offsetof(struct stat, st_ctim)"));
  },
});

Deno.test("struct accessors read and write every field type in place", () => {
  const buf = new DataView(new ArrayBuffer(Mixed.size * 2));
  const m = Mixed.at(buf, Mixed.size);
  m.a = "ab";
  m.b = 1.25;
  m.c = -2;
  m.d = -(2n ** 40n);
  m.e = 255;
  m.set({ inner: { c: -1, d: 0.5 }, arr: [1, 2, 3] });
  m.f = 1.5;
  m.g = true;
  m.recs.set(1, { c: 7, d: 7.5 });
  m.names.set(2, "xyz");
  m.tail = 9;
  assertEquals(m.toJSON(), {
    a: "ab",
    b: 1.25,
    c: -2,
    d: -(2n ** 40n),
    e: 255,
    inner: { c: -1, d: 0.5 },
    arr: [1, 2, 3],
    f: 1.5,
    g: true,
    recs: [{ c: 0, d: 0 }, { c: 7, d: 7.5 }],
    names: ["", "", "xyz"],
    tail: 9,
  });
  assert(m.arr instanceof Uint16Array);
  m.arr[0] = 42; // numeric arrays are live TypedArrays
  assertEquals(m.arr[0], 42);
  assertEquals(m.inner.d, 0.5);
  m.inner.d = 3; // nested structs are live too
  assertEquals(m.toJSON().inner.d, 3);
  assertEquals(
    new Uint8Array(buf.buffer, 0, Mixed.size).every((b) => b === 0),
    true,
    "first copy untouched",
  );
});

Deno.test("struct layout argument mistakes throw TypeError/RangeError", () => {
  assertThrows(() => char(0), RangeError);
  assertThrows(() => char(1.5), RangeError);
  assertThrows(() => array(i32, 0), RangeError);
  assertThrows(() => struct({}), RangeError);
  assertThrows(() => struct({ a: 5 as never }), TypeError);
  assertThrows(() => struct(null as never), TypeError);
  const s = struct({ name: char(4), list: array(u32, 2), x: i8 });
  const v = s.at(new DataView(new ArrayBuffer(s.size)));
  assertThrows(() => (v.name = "toolong"), RangeError);
  v.name = "four"; // exactly fills char[4]: no NUL needed
  assertEquals(v.name, "four");
  assertThrows(() => v.set({ list: [1] }), RangeError);
  assertThrows(() => struct({ set: i8 }), TypeError);
  assertThrows(() => s.at(new DataView(new ArrayBuffer(s.size - 1))), RangeError);
  assertThrows(() => s.at(new DataView(new ArrayBuffer(s.size)), 1), RangeError);
  assertThrows(() => s.at({} as never), TypeError);
  const names = struct({ n: array(char(3), 2) }).at(new DataView(new ArrayBuffer(6)));
  assertThrows(() => names.n.get(2), RangeError);
});

Deno.test("struct fields may be named view, offset, constructor, toString or __proto__", () => {
  // Object literals would read "__proto__" as the prototype; a computed key is a field.
  const Hostile = struct({
    view: i32,
    offset: i32,
    constructor: u8,
    toString: i64,
    ["__proto__"]: u16,
    hasOwnProperty: char(4),
  });
  assertEquals(Object.keys(Hostile.offsets), [
    "view",
    "offset",
    "constructor",
    "toString",
    "__proto__",
    "hasOwnProperty",
  ]);
  assertEquals(Hostile.offsets.__proto__, 24);
  const h = Hostile.at(new DataView(new ArrayBuffer(Hostile.size)));
  h.view = 1;
  h.offset = 2;
  h.constructor = 3;
  h.toString = 4n;
  h.__proto__ = 5;
  h.hasOwnProperty = "abc";
  const all: [string, unknown][] = [
    ["view", 1],
    ["offset", 2],
    ["constructor", 3],
    ["toString", 4n],
    ["__proto__", 5],
    ["hasOwnProperty", "abc"],
  ];
  assertEquals(Object.entries(h.toJSON()) as [string, unknown][], all);
  assertEquals(Object.getPrototypeOf(h.toJSON()), Object.prototype);
  // set({}) touches nothing: inherited names such as "constructor" are not fields' values.
  h.set({});
  assertEquals(h.constructor, 3);
  assertEquals(h.toString, 4n);
  h.set(JSON.parse('{"__proto__": 7, "view": 8}'));
  assertEquals([h.__proto__, h.view, h.offset], [7, 8, 2]);
});

Deno.test("struct set() takes only own enumerable keys, never inherited or hidden ones", () => {
  const S = struct({ a: i32, b: i32 });
  const s = S.at(new DataView(new ArrayBuffer(S.size)));
  s.set({ a: 1, b: 2 });
  s.set(Object.create({ a: 9 }));
  const hidden = Object.defineProperty({}, "b", { value: 9, enumerable: false });
  s.set(hidden);
  assertEquals(s.toJSON(), { a: 1, b: 2 });
});

Deno.test("char fields refuse a NUL or a lone surrogate with TypeError, and keep the old text", () => {
  const S = struct({ name: char(8) });
  const s = S.at(new DataView(new ArrayBuffer(S.size)));
  s.name = "ada";
  for (const bad of ["a\0b", "\0", "x\uD800", "\uDFFFy"]) {
    assertThrows(() => (s.name = bad), TypeError, "char[8]");
  }
  assertEquals(s.name, "ada");
  s.name = "\u{1F600}é"; // a well-formed pair is fine
  assertEquals(s.name, "\u{1F600}é");
});
