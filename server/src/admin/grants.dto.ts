import { Transform } from 'class-transformer';
import { IsBoolean, IsIn, IsObject, IsOptional, IsString, Length, MaxLength, ValidateBy } from 'class-validator';
import { invalidFields } from '../common/api-errors';
import { CLIENT_KINDS, ClientKind } from '../oauth/client-directory.service';
import { GrantOwner } from '../oauth/grants/grant-revocation';
import { PageQuery } from './pagination';

const toBoolean = ({ value }: { value: unknown }) => (value === 'true' ? true : value === 'false' ? false : value);

/** `?active=true|false&limit&cursor` of the user's own grants. */
export class ListMyGrantsQuery extends PageQuery {
  /** true: live grants only; false: revoked ones only. */
  @IsOptional()
  @Transform(toBoolean)
  @IsBoolean({ message: 'must be true or false' })
  active?: boolean;
}

/** `?userId&clientId&upstream&active&limit&cursor`: every filter given applies. */
export class ListGrantsQuery extends ListMyGrantsQuery {
  @IsOptional()
  @IsString()
  @MaxLength(200)
  userId?: string;

  @IsOptional()
  @IsString()
  @MaxLength(2000)
  clientId?: string;

  /** An upstream's slug. */
  @IsOptional()
  @IsString()
  @MaxLength(100)
  upstream?: string;
}

/** `{ userId } | { clientId } | { upstream }`: exactly one. */
export class RevokeGrantsDto {
  @IsOptional()
  @IsString()
  @Length(1, 200)
  userId?: string;

  @IsOptional()
  @IsString()
  @Length(1, 2000)
  clientId?: string;

  @IsOptional()
  @IsString()
  @Length(1, 100)
  upstream?: string;
}

const OWNER_FIELDS = ['userId', 'clientId', 'upstream'] as const;

/** The one owner a RevokeGrantsDto names; 400 naming the fields when it names none or several. */
export function ownerOf(body: RevokeGrantsDto): GrantOwner {
  const given = OWNER_FIELDS.filter((f) => body[f] !== undefined);
  if (given.length !== 1) {
    const problem = `give exactly one of ${OWNER_FIELDS.join(', ')}`;
    throw invalidFields(Object.fromEntries((given.length ? given : OWNER_FIELDS).map((f) => [f, problem])));
  }
  if (body.userId !== undefined) return { userId: body.userId };
  if (body.clientId !== undefined) return { clientId: body.clientId };
  return { upstreamSlug: body.upstream! };
}

export class ListClientsQuery extends PageQuery {
  /** Part of the client id or name. */
  @IsOptional()
  @IsString()
  @MaxLength(200)
  q?: string;

  @IsOptional()
  @IsIn(CLIENT_KINDS, { message: `must be one of: ${CLIENT_KINDS.join(', ')}` })
  kind?: ClientKind;
}

/** `{ values: { field: value } }`: what the consent page's credential fields take; a blank value keeps the stored one. */
export class CredentialsDto {
  @IsObject({ message: 'must be an object of field name → value' })
  @ValidateBy({
    name: 'stringValues',
    validator: {
      validate: (v: unknown) => !!v && typeof v === 'object' && Object.values(v).every((x) => typeof x === 'string'),
      defaultMessage: () => 'must map each field name to a string',
    },
  })
  values: Record<string, string>;
}
