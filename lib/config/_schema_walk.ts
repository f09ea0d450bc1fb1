/**
 * Walks zod object schemas: finds the schema at a key path and the kind of
 * value a leaf holds. Private to lib/config.
 *
 * @module
 */

import type { z } from "zod";

/** The kind of value a setting holds, which decides how an env string is read. */
export type LeafKind = "number" | "boolean" | "string" | "list" | "other";

/** A setting: a leaf of the schema tree. */
export interface Leaf {
  /** Dotted path, e.g. `gateway.drain_timeout`. */
  path: string;
  kind: LeafKind;
  description: string | undefined;
}

interface Def {
  type: string;
  innerType?: z.ZodType;
  shape?: Record<string, z.ZodType>;
}

function def(schema: z.ZodType): Def {
  return (schema as unknown as { _zod: { def: Def } })._zod.def;
}

/** Strips default, prefault, optional, nullable and catch wrappers. */
export function unwrap(schema: z.ZodType): z.ZodType {
  let current = schema;
  for (;;) {
    const d = def(current);
    if (
      !d.innerType || !["default", "prefault", "optional", "nullable", "catch"].includes(d.type)
    ) {
      return current;
    }
    current = d.innerType;
  }
}

/** The fields of an object schema, or undefined when `schema` is no object. */
export function objectShape(schema: z.ZodType): Record<string, z.ZodType> | undefined {
  const d = def(unwrap(schema));
  return d.type === "object" ? d.shape : undefined;
}

/** Every leaf setting below `schema`, depth first, in declaration order. */
export function leaves(schema: z.ZodType, prefix = ""): Leaf[] {
  const shape = objectShape(schema);
  if (!shape) {
    return [{ path: prefix, kind: leafKind(schema), description: describe(schema) }];
  }
  return Object.entries(shape).flatMap(([key, child]) =>
    leaves(child, prefix ? `${prefix}.${key}` : key)
  );
}

/** The schema at a dotted path below an object schema. */
export function schemaAt(schema: z.ZodType, path: string): z.ZodType | undefined {
  let current: z.ZodType | undefined = schema;
  for (const key of path.split(".")) {
    current = current ? objectShape(current)?.[key] : undefined;
  }
  return current;
}

function leafKind(schema: z.ZodType): LeafKind {
  const type = def(unwrap(schema)).type;
  if (type === "number" || type === "int") return "number";
  if (type === "boolean") return "boolean";
  if (type === "string" || type === "enum") return "string";
  if (type === "array") return "list";
  return "other";
}

function describe(schema: z.ZodType): string | undefined {
  let current: z.ZodType = schema;
  for (;;) {
    if (current.description) return current.description;
    const inner = def(current).innerType;
    if (!inner) return undefined;
    current = inner;
  }
}
