import { Module } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import { HtmlOrJsonExceptionFilter } from './html-or-json.filter';

/**
 * Server-rendered pages: the layout and every page function live in this folder, and
 * controllers import them from here. The module installs the app-wide exception filter.
 */
@Module({
  providers: [{ provide: APP_FILTER, useClass: HtmlOrJsonExceptionFilter }],
})
export class PagesModule {}
