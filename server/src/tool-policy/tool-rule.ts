/** Allow or deny. */
export type ToolRuleEffect = 'allow' | 'deny';

/**
 * One rule of an upstream's tool policy. `tools` are names or globs (`search_*`, `delete_*`, `*`);
 * `users` (user ids or emails) and `groups` (group names, as allow-lists name them) say whom it
 * applies to: both empty means everyone. Rules are read top to bottom and the first one that
 * matches the caller and the tool decides; no match means the tool is allowed.
 */
export interface ToolRule {
  effect: ToolRuleEffect;
  tools: string[];
  users: string[];
  groups: string[];
}

/** Who is calling, as the policy sees it: `groupIds` are the caller's group names (GroupsService.namesFor). */
export interface ToolCaller {
  userId: string;
  /** Lower-cased; rules may name users by email as allow-lists do. */
  email?: string | null;
  groupIds: readonly string[];
}

/** A decision and, when a rule made it, which (its 1-based position, for the audit row and the console). */
export interface ToolDecision {
  allowed: boolean;
  rule?: { position: number; effect: ToolRuleEffect; tools: string[] };
}

export const ALLOWED_BY_DEFAULT: ToolDecision = Object.freeze({ allowed: true });

/** More rules or patterns than this are not a policy anyone reads; the bound also caps the work per decision. */
export const MAX_RULES = 200;
export const MAX_PATTERNS_PER_RULE = 100;
export const MAX_SUBJECTS_PER_RULE = 500;
/** MCP tool names are 1–128 characters (2025-11-25 spec, "Tool Names"); a glob may add `*`s. */
const PATTERN = /^[A-Za-z0-9_.\-/*?]{1,128}$/;

/**
 * A glob as a RegExp: `*` any run of characters, `?` one character, everything else literal.
 * Hand-written (picomatch and friends are for paths: `/` and dot-files mean something there,
 * and tool names are not paths).
 */
export function globToRegExp(glob: string): RegExp {
  const body = glob
    .replace(/[.+^${}()|[\]\\/-]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${body}$`);
}

/** Problems of a rule list, keyed by field path (`rules[2].tools[0]`): empty when it is valid. */
export function ruleProblems(rules: unknown): Record<string, string> {
  const problems: Record<string, string> = {};
  if (!Array.isArray(rules)) return { rules: 'must be a list of rules' };
  if (rules.length > MAX_RULES) problems.rules = `must have at most ${MAX_RULES} rules`;
  rules.slice(0, MAX_RULES).forEach((rule: unknown, i) => {
    const at = `rules[${i}]`;
    if (!rule || typeof rule !== 'object' || Array.isArray(rule)) return void (problems[at] = 'must be an object');
    const r = rule as Record<string, unknown>;
    for (const key of Object.keys(r)) if (!['effect', 'tools', 'users', 'groups'].includes(key)) problems[`${at}.${key}`] = 'is not a rule field (effect, tools, users, groups)';
    if (r.effect !== 'allow' && r.effect !== 'deny') problems[`${at}.effect`] = 'must be allow or deny';
    if (!Array.isArray(r.tools) || !r.tools.length) problems[`${at}.tools`] = 'must list at least one tool name or glob';
    else if (r.tools.length > MAX_PATTERNS_PER_RULE) problems[`${at}.tools`] = `must list at most ${MAX_PATTERNS_PER_RULE} names`;
    else
      r.tools.forEach((t, j) => {
        if (typeof t !== 'string' || !PATTERN.test(t)) problems[`${at}.tools[${j}]`] = 'must be a tool name or glob (letters, digits, _ . - /, * and ?; up to 128 characters)';
      });
    for (const field of ['users', 'groups'] as const) {
      const v = r[field];
      if (v === undefined) continue;
      if (!Array.isArray(v) || v.length > MAX_SUBJECTS_PER_RULE || v.some((x) => typeof x !== 'string' || !x.trim() || x.length > 320)) {
        problems[`${at}.${field}`] = `must be a list of at most ${MAX_SUBJECTS_PER_RULE} non-empty names`;
      }
    }
  });
  return problems;
}

/** A valid rule list with defaults filled in and emails lower-cased (call ruleProblems first). */
export function normalizeRules(rules: Array<Partial<ToolRule> & Pick<ToolRule, 'effect' | 'tools'>>): ToolRule[] {
  return rules.map((r) => ({
    effect: r.effect,
    tools: [...r.tools],
    users: (r.users ?? []).map((u) => (u.includes('@') ? u.trim().toLowerCase() : u.trim())),
    groups: (r.groups ?? []).map((g) => g.trim()),
  }));
}

/** A rule made ready to match: its globs compiled once. */
export interface CompiledRule {
  position: number;
  rule: ToolRule;
  everyone: boolean;
  users: ReadonlySet<string>;
  groups: ReadonlySet<string>;
  exact: ReadonlySet<string>;
  globs: RegExp[];
  decision: ToolDecision;
}

export function compileRules(rules: ToolRule[]): CompiledRule[] {
  return rules.map((rule, i) => ({
    position: i + 1,
    rule,
    everyone: !rule.users.length && !rule.groups.length,
    users: new Set(rule.users),
    groups: new Set(rule.groups),
    exact: new Set(rule.tools.filter((t) => !/[*?]/.test(t))),
    globs: rule.tools.filter((t) => /[*?]/.test(t)).map(globToRegExp),
    decision: Object.freeze({ allowed: rule.effect === 'allow', rule: Object.freeze({ position: i + 1, effect: rule.effect, tools: rule.tools }) }),
  }));
}

/** The rules that concern this caller, in order (what the per-user cache holds). */
export function rulesFor(rules: CompiledRule[], caller: ToolCaller): CompiledRule[] {
  return rules.filter(
    (r) => r.everyone || r.users.has(caller.userId) || (!!caller.email && r.users.has(caller.email.toLowerCase())) || caller.groupIds.some((g) => r.groups.has(g)),
  );
}

/** First match wins; no match allows (the "default allow"). */
export function decideAmong(rules: CompiledRule[], toolName: string): ToolDecision {
  for (const r of rules) {
    if (r.exact.has(toolName) || r.globs.some((g) => g.test(toolName))) return r.decision;
  }
  return ALLOWED_BY_DEFAULT;
}
