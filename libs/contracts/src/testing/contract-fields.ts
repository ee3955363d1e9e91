import { getMetadataStorage } from 'class-validator';
import type { MetadataStorage } from 'class-transformer/types/MetadataStorage';
import { ContractDefinition, contractKey } from '../contract';

// @Type's nested classes are kept in a store class-transformer does not export from its index.
const { defaultMetadataStorage } = require('class-transformer/cjs/storage') as { defaultMetadataStorage: MetadataStorage };

type PayloadClass = new () => object;

/**
 * What a contract's payload may carry: the contract's key alone, and `<key> <field>` for each field, nested ones as
 * `parent.child` (an array of objects: its elements' fields). What a service of another release must know to accept it.
 */
export function contractFields(contract: ContractDefinition): string[] {
  const key = contractKey(contract);
  return [key, ...fieldsOf(contract.schema).map((field) => `${key} ${field}`)];
}

/** Whether `field` (as contractFields names it) is `declared` or lies within it: a field of its job, or nested in it. */
export function isWithin(field: string, declared: string): boolean {
  return field === declared || field.startsWith(`${declared}.`) || field.startsWith(`${declared} `);
}

function fieldsOf(schema: PayloadClass, prefix = ''): string[] {
  const names = new Set(
    getMetadataStorage()
      .getTargetValidationMetadatas(schema, '', true, false)
      .map((m) => m.propertyName),
  );
  return [...names].flatMap((name) => {
    const nested = defaultMetadataStorage.findTypeMetadata(schema, name)?.typeFunction() as PayloadClass | undefined;
    return [`${prefix}${name}`, ...(nested ? fieldsOf(nested, `${prefix}${name}.`) : [])];
  });
}
