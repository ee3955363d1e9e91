import { Controller, Get, Param, Query } from '@nestjs/common';
import { declaredQueryParameters } from './rest-request.interceptor';

@Controller('v1/things')
class ThingsController {
  @Get()
  list(@Query('colour') colour?: string, @Query('size') size?: string): string[] {
    return [colour ?? '', size ?? ''];
  }

  @Get(':id')
  show(@Param('id') id: string): string {
    return id;
  }

  @Get(':id/search')
  search(@Query() query: Record<string, string>): Record<string, string> {
    return query;
  }
}

describe('the query parameters a route declares', () => {
  it('are the names its @Query parameters give', () => {
    expect([...(declaredQueryParameters(ThingsController, ThingsController.prototype.list) ?? [])]).toEqual(['colour', 'size']);
  });

  it('are none for a route without @Query', () => {
    expect(declaredQueryParameters(ThingsController, ThingsController.prototype.show)).toEqual(new Set());
  });

  it('are left to the DTO of a route that takes the whole query', () => {
    expect(declaredQueryParameters(ThingsController, ThingsController.prototype.search)).toBeUndefined();
  });
});
