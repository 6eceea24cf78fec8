// The napi addon, loaded by the loader `napi build` generates. Everything the engine does is behind it;
// this file only gives it a typed name.
import * as binding from "../index.js";

export const native = binding;
export type {
  NativeObjectStore,
  NativeMount,
  NativeTxn,
  JsFailRule as FailRule,
  JsGetResult as GetResult,
  JsObjectMeta as ObjectMeta,
  JsListResult as ListResult,
  JsProbeReport as ProbeReport,
  JsRequestCounts as RequestCounts,
} from "../index.js";
