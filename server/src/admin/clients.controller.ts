import { Delete, Get, HttpCode, Param, Query } from '@nestjs/common';
import { Actor } from '../identity/actor';
import { Roles } from '../identity/roles.guard';
import { ClientDirectory } from '../oauth/client-directory.service';
import { AdminApi, CurrentActor } from './admin-api';
import { clientView } from './grant-views';
import { ListClientsQuery } from './grants.dto';
import { pageOf, pageRequest } from './pagination';

/**
 * /admin/api/clients: every OAuth client the gateway knows (registered, or by metadata document),
 * with its live grants; admins delete them, auditors read. A client id that is a URL goes in the
 * path percent-encoded (encodeURIComponent).
 */
@AdminApi('clients')
export class ClientsController {
  constructor(private readonly clients: ClientDirectory) {}

  /** `?q&kind&limit&cursor` → `{ items: ClientView[], nextCursor }`, newest first. */
  @Get()
  @Roles('admin', 'auditor')
  async list(@Query() query: ListClientsQuery) {
    const page = pageRequest<[number, string]>(query, ['number', 'string']);
    const rows = await this.clients.list({ q: query.q, kind: query.kind }, { after: page.after, limit: page.fetch });
    return pageOf(rows, page.limit, (c) => [c.createdAt, c.clientId], clientView);
  }

  /** → 204. Revokes every grant of the client (tokens refused at once, streams cut) and forgets its consents. */
  @Delete(':clientId')
  @HttpCode(204)
  async remove(@Param('clientId') clientId: string, @CurrentActor() actor: Actor): Promise<void> {
    await this.clients.delete(clientId, actor);
  }
}
