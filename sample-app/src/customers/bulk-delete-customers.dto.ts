import { ArrayMaxSize, ArrayNotEmpty, IsArray, Matches } from 'class-validator';

export class BulkDeleteCustomersDto {
  @IsArray()
  @ArrayNotEmpty()
  @ArrayMaxSize(100)
  @Matches(/^cus_\w{1,40}$/, { each: true, message: 'each id must look like cus_ada' })
  ids!: string[];
}
