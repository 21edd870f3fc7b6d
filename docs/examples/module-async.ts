// README: "Module" with @nestjs/config. Type-checked by `npm test`.
import { ConfigModule, ConfigService } from '@nestjs/config';
import { SesameModule } from 'nestjs-sesame';

SesameModule.forRootAsync({
  imports: [ConfigModule],
  inject: [ConfigService],
  useFactory: (config: ConfigService) => ({
    apiKey: config.getOrThrow('SESAME_API_KEY'),
    baseUrl: config.get('SESAME_BROKER_URL'),
    webhookSecret: config.get('SESAME_WEBHOOK_SECRET'),
  }),
  webhookPath: '/sesame/webhook', // optional built-in decision endpoint
});
