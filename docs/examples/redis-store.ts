// README: "Deploying: proxies, restarts and replicas", shared state. Type-checked by `npm test`.
import { SesameModule } from 'nestjs-sesame';

SesameModule.forRoot({
  apiKey: process.env.SESAME_API_KEY,
  store: { type: 'redis', url: process.env.REDIS_URL }, // needs `npm install ioredis`
  isGlobal: true,
});
