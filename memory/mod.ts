/**
 * Typed views over mapped memory and C struct layouts.
 *
 * @module
 */

export { MappedRegion, type TypedArrayConstructor, type Unmap } from "./region.ts";
export {
  array,
  type ArrayAccessor,
  bool,
  char,
  f32,
  f64,
  type Fields,
  type GetOf,
  i16,
  i32,
  i64,
  i8,
  type SetOf,
  struct,
  type StructAccessor,
  type StructType,
  type StructValue,
  type Type,
  type TypedArrayOf,
  u16,
  u32,
  u64,
  u8,
} from "./layout.ts";
