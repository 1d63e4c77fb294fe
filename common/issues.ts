/**
 * met's one wording for invalid input found by a zod schema: a heading, then one line per problem
 * naming where it is ("models.0.server.scoring: ..."). Structural, so this folder needs no zod.
 */
export interface Issue {
  readonly path: readonly PropertyKey[];
  readonly message: string;
}

/** "a.b.0: message"; `root` names the whole value when the problem is at the top. */
export function issueLine(issue: Issue, root = '(top level)'): string {
  return `${issue.path.length ? issue.path.map(String).join('.') : root}: ${issue.message}`;
}

/** "heading:\n  - a.b: message\n  - ..." for every problem. */
export function formatIssues(error: { readonly issues: readonly Issue[] }, heading: string, root?: string): string {
  return `${heading}:\n${error.issues.map((i) => `  - ${issueLine(i, root)}`).join('\n')}`;
}
