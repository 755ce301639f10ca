// Loaded with --import into a bench server: every `@opentelemetry/*` import fails as if the packages were not
// installed, which is what a build without the tracing packages is.
import { register } from 'node:module';

const hooks = `
export async function resolve(specifier, context, nextResolve) {
  if (specifier.startsWith('@opentelemetry/')) {
    const error = new Error('Cannot find package ' + specifier + ' (a build without the tracing packages)');
    error.code = 'ERR_MODULE_NOT_FOUND';
    throw error;
  }
  return nextResolve(specifier, context);
}`;
register(`data:text/javascript,${encodeURIComponent(hooks)}`);
