// @peculiar/x509, after the Reflect metadata polyfill that its dependency injection (tsyringe) needs
// before it loads. Import this module, never @peculiar/x509 directly.
import 'reflect-metadata';

export * from '@peculiar/x509';
