import { Column, Entity, Index, PrimaryGeneratedColumn } from 'typeorm';

/** One audited event. Never holds a secret: ids, names, methods and outcomes only. */
@Entity('audit_events')
export class AuditEvent {
  @PrimaryGeneratedColumn()
  id: number;

  @Index()
  @Column('integer')
  at: number;

  @Index()
  @Column('text')
  type: string;

  @Column('text')
  outcome: 'success' | 'failure';

  @Column('text', { name: 'user_id', nullable: true })
  userId: string | null;

  @Column('text', { name: 'client_id', nullable: true })
  clientId: string | null;

  @Column('text', { name: 'upstream_slug', nullable: true })
  upstreamSlug: string | null;

  @Column('text', { name: 'mcp_method', nullable: true })
  mcpMethod: string | null;

  @Column('integer', { nullable: true })
  status: number | null;

  @Column('integer', { name: 'duration_ms', nullable: true })
  durationMs: number | null;

  @Column('text', { nullable: true })
  ip: string | null;

  @Column('simple-json', { nullable: true })
  detail: Record<string, unknown> | null;
}
