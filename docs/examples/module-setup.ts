// README: "Module". Type-checked by `npm test`.
import { Module } from '@nestjs/common';
import { SesameModule } from 'nestjs-sesame';

@Module({
  imports: [
    SesameModule.forRoot({
      // all optional: they fall back to SESAME_API_KEY, SESAME_BROKER_URL, SESAME_WEBHOOK_SECRET
      apiKey: process.env.SESAME_API_KEY,
      defaultTimeout: 5 * 60_000,
      isGlobal: true,
    }),
  ],
})
export class AppModule {}
