import { Column, Entity, Index, PrimaryColumn } from 'typeorm';
import type { ToolDefinition } from './tool-definition';

/**
 * `approved`: the definition clients get (one per tool at most); `pending`: a changed or new
 * definition awaiting an admin; `rejected`: refused by an admin (kept, so that the same definition
 * is not asked about again); `superseded`: an earlier approved definition.
 */
export type ToolVersionStatus = 'approved' | 'pending' | 'rejected' | 'superseded';

/** The tool catalogue: each definition an upstream has offered for a tool, by its hash. */
@Entity('tool_versions')
@Index('IDX_tool_versions_definition', ['upstreamSlug', 'toolName', 'hash'], { unique: true })
export class ToolVersion {
  @PrimaryColumn('text')
  id: string;

  @Column('text', { name: 'upstream_slug' })
  upstreamSlug: string;

  @Column('text', { name: 'tool_name' })
  toolName: string;

  /** SHA-256 (hex) of the canonical JSON of the definition (tool-definition.ts). */
  @Column('text')
  hash: string;

  @Column('simple-json')
  definition: ToolDefinition;

  @Column('text')
  status: ToolVersionStatus;

  @Column('integer', { name: 'first_seen_at' })
  firstSeenAt: number;

  @Column('integer', { name: 'last_seen_at' })
  lastSeenAt: number;

  /** When an admin approved or rejected it (null: never decided by a person, e.g. the first baseline). */
  @Column('integer', { name: 'decided_at', nullable: true })
  decidedAt: number | null;

  @Column('text', { name: 'decided_by', nullable: true })
  decidedBy: string | null;
}
