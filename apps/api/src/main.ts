import 'reflect-metadata';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import { runService } from '@island/platform';
import { ApiModule } from './api.module';

runService({
  name: 'api',
  module: ApiModule,
  port: (config) => config.ports.api,
  beforeListen: (app) => {
    const document = SwaggerModule.createDocument(
      app,
      new DocumentBuilder()
        .setTitle('island')
        .setDescription('Volumes on local qcow2 images, incremental snapshots in Swift')
        .setVersion('1')
        .addBearerAuth()
        .build(),
    );
    SwaggerModule.setup('docs', app, document, { jsonDocumentUrl: 'docs/openapi.json' });
  },
});
