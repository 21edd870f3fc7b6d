import { ConfigurableModuleBuilder } from '@nestjs/common';
import type { SesameModuleExtras, SesameModuleOptions } from './sesame-module.options.js';

export const { ConfigurableModuleClass: SesameConfigurableModule, MODULE_OPTIONS_TOKEN: SESAME_MODULE_OPTIONS } = new ConfigurableModuleBuilder<SesameModuleOptions>({
  moduleName: 'Sesame',
})
  .setClassMethodName('forRoot')
  .setFactoryMethodName('createSesameOptions')
  .setExtras<SesameModuleExtras>({ isGlobal: false, webhookPath: undefined, approvalGate: undefined, requestContext: undefined, policy: undefined }, (definition, extras) => ({
    ...definition,
    global: extras.isGlobal,
  }))
  .build();
