import { HttpException } from '@nestjs/common';
import type { NextFunction, Request, Response } from 'express';
import { IslandConfig } from '@island/config';
import { Authenticator } from './auth.guard';

/**
 * Express middleware for pages outside the REST routes (/metrics, /docs): with Keystone, only the admin
 * sees them; with static tokens the API listens on loopback only, and they stay open there.
 */
export function adminOnly(config: IslandConfig, authenticator: Authenticator) {
  return async (request: Request, response: Response, next: NextFunction): Promise<void> => {
    if (!config.auth.keystone) return next();
    try {
      const caller = await authenticator.callerOf(request);
      if (caller.admin) return next();
      response.status(403).json({ statusCode: 403, message: `${request.path} is for the admin role` });
    } catch (error) {
      if (!(error instanceof HttpException)) return next(error);
      response.status(error.getStatus()).json(error.getResponse());
    }
  };
}
