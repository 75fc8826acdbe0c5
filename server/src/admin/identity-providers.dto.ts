import { Transform } from 'class-transformer';
import { ArrayMaxSize, IsArray, IsIn, IsOptional, IsString, Length, MaxLength } from 'class-validator';
import { NEW_USER_POLICIES, NewUserPolicy } from '../identity/federation/identity-provider.config';

const trimmed = ({ value }: { value: unknown }) => (typeof value === 'string' ? value.trim() : value);

/**
 * PATCH /identity-providers/:id: the fields present change; an absent or empty clientSecret keeps the
 * stored one (it is write-only). The rules of each value are config.yaml's (IdentityProviderConfig),
 * checked by IdentityProvidersService; these only keep the shapes and sizes sane.
 */
export class UpdateIdentityProviderDto {
  @IsOptional()
  @Transform(trimmed)
  @IsString()
  @Length(1, 80)
  name?: string;

  @IsOptional()
  @Transform(trimmed)
  @IsString()
  @MaxLength(2000)
  issuer?: string;

  @IsOptional()
  @Transform(trimmed)
  @IsString()
  @Length(1, 500)
  clientId?: string;

  @IsOptional()
  @IsString()
  @MaxLength(2000)
  clientSecret?: string;

  @IsOptional()
  @IsArray()
  @ArrayMaxSize(50)
  @IsString({ each: true })
  @MaxLength(200, { each: true })
  scopes?: string[];

  @IsOptional()
  @Transform(trimmed)
  @IsString()
  @MaxLength(200)
  groupsClaim?: string;

  @IsOptional()
  @IsIn(NEW_USER_POLICIES, { message: `must be one of: ${NEW_USER_POLICIES.join(', ')}` })
  newUsers?: NewUserPolicy;

  @IsOptional()
  @IsArray()
  @ArrayMaxSize(100)
  @IsString({ each: true })
  @MaxLength(253, { each: true })
  allowedEmailDomains?: string[];
}

/** POST /identity-providers: id, name, issuer, clientId and clientSecret are needed (the service names what is missing). */
export class CreateIdentityProviderDto extends UpdateIdentityProviderDto {
  @IsString()
  @Length(1, 63)
  id: string;
}
