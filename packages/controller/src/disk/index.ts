export { DiskBudget, formatBytes, type DiskBudgetInit, type DiskStats } from './budget.js'
export { ImageCache, cacheOwner, isCacheOwner, touchingCatalog, type CachedPin } from './image-cache.js'
export { measureDisk, type DiskMeasure } from './usage.js'
