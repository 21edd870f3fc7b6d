// README: "Webhooks: raw body on Express and Fastify". Type-checked by `npm test`.
import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';

@Module({})
class AppModule {}

// Express
const expressApp = await NestFactory.create(AppModule, { rawBody: true });
// Fastify
const fastifyApp = await NestFactory.create<NestFastifyApplication>(AppModule, new FastifyAdapter(), { rawBody: true });

export { expressApp, fastifyApp };
