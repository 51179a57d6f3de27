export declare const API_TYPES_HEADER: string
export declare function apiTypes (document: object): Promise<string>
