import { Transform } from 'class-transformer';
import { IsBoolean, IsEmail, IsIn, IsNotEmpty, IsOptional, IsString, Length, MaxLength, MinLength } from 'class-validator';
import { MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH } from '../identity/password';
import { USER_ROLES, UserRole } from '../identity/roles';
import { PageQuery } from './pagination';

const ROLE_MESSAGE = `must be one of: ${USER_ROLES.join(', ')}`;
const trimmed = ({ value }: { value: unknown }) => (typeof value === 'string' ? value.trim() : value);

export class CreateUserDto {
  @Transform(trimmed)
  @IsEmail({}, { message: 'must be an email address' })
  @MaxLength(320)
  email: string;

  @IsOptional()
  @Transform(trimmed)
  @IsString()
  @Length(1, 200)
  name?: string;

  /** Default 'member'. */
  @IsOptional()
  @IsIn(USER_ROLES, { message: ROLE_MESSAGE })
  role?: UserRole;
}

/** PATCH: only the fields present change; `name: null` clears the name. */
export class UpdateUserDto {
  @IsOptional()
  @Transform(trimmed)
  @IsString()
  @Length(1, 200)
  name?: string | null;

  @IsOptional()
  @IsIn(USER_ROLES, { message: ROLE_MESSAGE })
  role?: UserRole;
}

export class ListUsersQuery extends PageQuery {
  /** Part of the email or name. */
  @IsOptional()
  @IsString()
  @MaxLength(200)
  q?: string;

  @IsOptional()
  @IsIn(USER_ROLES, { message: ROLE_MESSAGE })
  role?: UserRole;

  /** `true` or `false`. */
  @IsOptional()
  @Transform(({ value }: { value: unknown }) => (value === 'true' ? true : value === 'false' ? false : value))
  @IsBoolean({ message: 'must be true or false' })
  disabled?: boolean;
}

export class ChangePasswordDto {
  @IsString()
  @IsNotEmpty()
  @MaxLength(MAX_PASSWORD_LENGTH)
  currentPassword: string;

  @IsString()
  @MinLength(MIN_PASSWORD_LENGTH, { message: `must be at least ${MIN_PASSWORD_LENGTH} characters long` })
  @MaxLength(MAX_PASSWORD_LENGTH, { message: `must be at most ${MAX_PASSWORD_LENGTH} characters long` })
  newPassword: string;
}
