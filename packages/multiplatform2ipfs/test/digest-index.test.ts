import { MemoryDatastore } from 'datastore-core/memory'
import { datastoreDigestIndex } from '../src/layout/datastore-digest-index.js'
import { memoryDigestIndex } from '../src/layout/digest-index.js'
import { digestIndexConformance } from './digest-index-conformance.js'

digestIndexConformance('memory', () => memoryDigestIndex())
digestIndexConformance('datastore (MemoryDatastore)', () => datastoreDigestIndex(new MemoryDatastore()))
