import { ArrayMaxSize, IsArray, IsString, Length, Matches } from 'class-validator';

/** `{ upstreams }` of PUT /admin/api/bundles/:name. */
export class BundleMembersDto {
  @IsArray()
  @ArrayMaxSize(50)
  @IsString({ each: true })
  @Length(1, 63, { each: true })
  upstreams: string[];
}

/** `{ name, upstreams }` of POST /admin/api/bundles. */
export class BundleCreateDto extends BundleMembersDto {
  @IsString()
  @Matches(/^[a-z0-9][a-z0-9-]{0,62}$/, { message: 'must be 1-63 lower-case letters, digits and dashes, starting with a letter or digit' })
  name: string;
}
