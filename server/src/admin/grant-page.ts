import { Grant } from '../oauth/grant.entity';
import { GrantPage } from '../oauth/grants/grant-query';
import { GrantView, GrantViews } from './grant-views';
import { Page, pageOf, PageQuery, pageRequest } from './pagination';

/** One page of grants, newest first; the cursor is the last grant's [createdAt, id]. */
export async function grantPage(query: PageQuery, fetch: (page: GrantPage) => Promise<Grant[]>, views: GrantViews): Promise<Page<GrantView>> {
  const page = pageRequest<[number, string]>(query, ['number', 'string']);
  const rows = await fetch({ after: page.after, limit: page.fetch });
  const { items, nextCursor } = pageOf(
    rows,
    page.limit,
    (g) => [g.createdAt, g.id],
    (g) => g,
  );
  return { items: await views.of(items), nextCursor };
}
