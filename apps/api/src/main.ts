import 'reflect-metadata';
import { ApiExcludeController, DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import { isLoopbackAddress } from '@island/config';
import { HealthController, MetricsController, runService } from '@island/platform';
import { ApiModule } from './api.module';
import { adminOnly } from './auth/admin-only.middleware';
import { Authenticator } from './auth/auth.guard';

runService({
  name: 'api',
  module: ApiModule,
  port: (config) => config.ports.api,
  tls: true,
  // static tokens are a development mode: anyone who can reach a public address could try the well-known ones
  refuse: (config) =>
    !config.auth.keystone && !isLoopbackAddress(config.http.bindAddress)
      ? [
          `ISLAND_BIND_ADDRESS ${config.http.bindAddress} is not a loopback address, and without Keystone the API would accept static tokens ` +
            '(ISLAND_TOKENS, ISLAND_ADMIN_TOKEN, or their well-known defaults). Configure Keystone (ISLAND_KEYSTONE_URL, ISLAND_KEYSTONE_USER, ' +
            'ISLAND_KEYSTONE_PASSWORD) or bind to 127.0.0.1.',
        ]
      : [],
  beforeListen: (app, config) => {
    // operators' pages: the admin's alone once callers come from Keystone (docs/security.md)
    app.use(['/metrics', '/docs'], adminOnly(config, app.get(Authenticator)));
    // every service has these probes; only the API loads swagger (~50–100 ms of a process's start), so it marks them here
    for (const operational of [HealthController, MetricsController]) ApiExcludeController()(operational);
    const document = SwaggerModule.createDocument(
      app,
      new DocumentBuilder()
        .setTitle('island')
        .setDescription('Volumes on local qcow2 images, incremental snapshots in Swift')
        .setVersion('1')
        .addBearerAuth()
        .addApiKey({ type: 'apiKey', in: 'header', name: 'X-Auth-Token', description: 'a Keystone token scoped to a project' }, 'keystone')
        .build(),
    );
    // every form of the document under /docs, where adminOnly guards it
    SwaggerModule.setup('docs', app, document, { jsonDocumentUrl: 'docs/openapi.json', yamlDocumentUrl: 'docs/openapi.yaml' });
  },
});
