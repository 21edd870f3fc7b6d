// README: "Your own HTTP client (axios)". Type-checked by `npm test`.
import { readFileSync } from 'node:fs';
import https from 'node:https';
import { HttpModule, HttpService } from '@nestjs/axios';
import axios from 'axios';
import { SesameClient, SesameModule } from 'nestjs-sesame';

// The client alone: an axios instance with the egress proxy and an interceptor of your own.
const http = axios.create({ proxy: { protocol: 'http', host: 'egress.internal', port: 3128 } });
http.interceptors.request.use((config) => {
  config.headers.set('x-request-id', crypto.randomUUID());
  return config;
});
const client = new SesameClient({ apiKey: process.env.SESAME_API_KEY, httpClient: http });

// In Nest: @nestjs/axios's HttpService, here with a client certificate (mTLS) for the broker.
SesameModule.forRootAsync({
  imports: [
    HttpModule.register({
      httpsAgent: new https.Agent({ cert: readFileSync('/etc/sesame/client.crt'), key: readFileSync('/etc/sesame/client.key'), keepAlive: true }),
    }),
  ],
  inject: [HttpService],
  useFactory: (http: HttpService) => ({
    apiKey: process.env.SESAME_API_KEY,
    httpClient: http,
  }),
});

export { client };
