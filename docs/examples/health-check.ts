// README: "Health checks". Type-checked by `npm test`.
import { Controller, Get, Module } from '@nestjs/common';
import { HealthCheck, HealthCheckService, TerminusModule } from '@nestjs/terminus';
import { SesameHealthIndicator, SesameModule } from 'nestjs-sesame';

@Controller('health')
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly sesame: SesameHealthIndicator,
  ) {}

  @Get()
  @HealthCheck()
  check() {
    return this.health.check([() => this.sesame.isHealthy('sesame', { timeout: 2_000 })]);
  }
}

@Module({
  imports: [TerminusModule],
  controllers: [HealthController],
  providers: [SesameHealthIndicator], // needs `npm install @nestjs/terminus`
})
export class HealthModule {}

@Module({
  imports: [SesameModule.forRoot({ store: { type: 'redis', url: process.env.REDIS_URL }, isGlobal: true }), HealthModule],
})
export class AppModule {}
