/** Where SesameModule mounts its built-in decision webhook endpoint in this app. */
export const SESAME_WEBHOOK_PATH = '/sesame/webhook';
