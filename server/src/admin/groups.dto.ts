import { Transform } from 'class-transformer';
import { IsString, Length, Matches } from 'class-validator';

export class GroupNameDto {
  @Transform(({ value }: { value: unknown }) => (typeof value === 'string' ? value.trim() : value))
  @IsString()
  @Length(1, 100)
  // Group names appear in allow-lists (config.yaml too) and on pages: printable text only.
  @Matches(/^[^\p{Cc}\p{Cf}]*$/u, { message: 'must not contain control or format characters' })
  name: string;
}
