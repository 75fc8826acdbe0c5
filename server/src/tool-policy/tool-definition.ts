import { createHash } from 'node:crypto';

/** The parts of an MCP Tool (2025-11-25 schema, `Tool`) that the catalogue pins. */
export interface ToolDefinition {
  name: string;
  title?: unknown;
  description?: unknown;
  inputSchema?: unknown;
  outputSchema?: unknown;
  annotations?: unknown;
}

const PINNED_FIELDS = ['name', 'title', 'description', 'inputSchema', 'outputSchema', 'annotations'] as const;

/** The pinned fields of a tool as listed by an upstream (other fields, e.g. `_meta`, are not pinned). */
export function definitionOf(tool: Record<string, unknown>): ToolDefinition {
  const out: Record<string, unknown> = {};
  for (const f of PINNED_FIELDS) if (tool[f] !== undefined) out[f] = tool[f];
  return out as unknown as ToolDefinition;
}

/**
 * JSON with object keys sorted at every level, so that two upstream replies that differ only in
 * key order hash the same (RFC 8785's idea; its number formatting is what JSON.stringify already
 * does for the integers and short decimals schemas hold).
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj)
    .filter((k) => obj[k] !== undefined)
    .sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(obj[k])}`).join(',')}}`;
}

export function definitionHash(definition: ToolDefinition): string {
  return createHash('sha256').update(canonicalJson(definition)).digest('hex');
}
