/**
 * An ONNX graph builder over {@link ProtoMessage}: inputs, outputs, initializers and nodes,
 * serialised as a ModelProto (IR 10, opset 21). Only the fields this backend writes are
 * modelled; field numbers follow onnx/onnx.proto.
 */
import { ProtoMessage } from './proto-writer.js';

/** Element types this backend writes into graphs. */
export type OnnxElementType = 'float32' | 'uint8' | 'float16' | 'bfloat16' | 'int64';

/** TensorProto.DataType codes. */
const DATA_TYPE: Record<OnnxElementType, number> = { float32: 1, uint8: 2, int64: 7, float16: 10, bfloat16: 16 };

/** The ONNX IR version the graphs declare. */
export const IR_VERSION = 10;
/** The default-domain opset the graphs import. */
export const OPSET = 21;

/** Typed storage of an initializer (half types as raw 16-bit patterns). */
export interface InitializerData {
  readonly type: OnnxElementType;
  readonly dims: readonly number[];
  readonly data: Float32Array | Uint16Array | Uint8Array | BigInt64Array;
}

/** A node attribute: exactly one of int, float, string or ints. */
export type AttributeValue = { readonly i: number } | { readonly f: number } | { readonly s: string } | { readonly ints: readonly number[] };

/** A dimension: a fixed size or a symbolic name. */
export type Dim = number | string;

// AttributeProto.AttributeType codes.
const ATTR_FLOAT = 1;
const ATTR_INT = 2;
const ATTR_STRING = 3;
const ATTR_INTS = 7;

function attribute(name: string, value: AttributeValue): ProtoMessage {
  const a = new ProtoMessage().string(1, name);
  if ('i' in value) a.varint(3, value.i).varint(20, ATTR_INT);
  else if ('f' in value) a.float(2, value.f).varint(20, ATTR_FLOAT);
  else if ('s' in value) a.string(4, value.s).varint(20, ATTR_STRING);
  else a.packedVarints(8, value.ints).varint(20, ATTR_INTS);
  return a;
}

function valueInfo(name: string, type: OnnxElementType, dims: readonly Dim[]): ProtoMessage {
  const shape = new ProtoMessage();
  for (const d of dims) shape.message(1, typeof d === 'number' ? new ProtoMessage().varint(1, d) : new ProtoMessage().string(2, d));
  const tensorType = new ProtoMessage().varint(1, DATA_TYPE[type]).message(2, shape);
  return new ProtoMessage().string(1, name).message(2, new ProtoMessage().message(1, tensorType));
}

function tensorProto(name: string, t: InitializerData): ProtoMessage {
  const m = new ProtoMessage();
  if (t.dims.length) m.packedVarints(1, t.dims);
  m.varint(2, DATA_TYPE[t.type]).string(8, name);
  // raw_data is little-endian; every platform onnxruntime-node ships for is little-endian.
  return m.bytes(9, new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
}

/** Builds one ONNX graph and serialises it as a model. */
export class OnnxGraphBuilder {
  private readonly nodes: ProtoMessage[] = [];
  private readonly inits: ProtoMessage[] = [];
  private readonly inputs: ProtoMessage[] = [];
  private readonly outputs: ProtoMessage[] = [];
  private readonly domains = new Map<string, number>([['', OPSET]]);
  private nodeCount = 0;

  constructor(private readonly name: string) {}

  /** Declares a graph input. */
  input(name: string, type: OnnxElementType, dims: readonly Dim[]): this {
    this.inputs.push(valueInfo(name, type, dims));
    return this;
  }

  /** Declares a graph output. */
  output(name: string, type: OnnxElementType, dims: readonly Dim[]): this {
    this.outputs.push(valueInfo(name, type, dims));
    return this;
  }

  /** Adds a constant initializer (its data is referenced until serialisation). */
  initializer(name: string, data: InitializerData): this {
    const expected = data.dims.reduce((a, b) => a * b, 1);
    if (data.data.length !== expected) throw new RangeError(`initializer ${name}: ${data.data.length} values for dims [${data.dims.join(', ')}]`);
    this.inits.push(tensorProto(name, data));
    return this;
  }

  /**
   * Adds a constant initializer and returns the name of its float32 value: half-precision
   * data gets a Cast, which constant folding turns into a float32 initializer at session
   * creation (so compute stays float32 while the model bytes stay half size).
   */
  floatConstant(name: string, data: InitializerData): string {
    this.initializer(name, data);
    if (data.type === 'float32') return name;
    this.node('Cast', [name], [`${name}_f32`], { to: { i: DATA_TYPE.float32 } });
    return `${name}_f32`;
  }

  /** Adds a node; `domain` '' is the default ONNX domain, e.g. 'com.microsoft' for contrib ops. */
  node(opType: string, inputs: readonly string[], outputs: readonly string[], attributes: Readonly<Record<string, AttributeValue>> = {}, domain = ''): this {
    const n = new ProtoMessage();
    for (const i of inputs) n.string(1, i);
    for (const o of outputs) n.string(2, o);
    n.string(3, `${opType}_${this.nodeCount++}`).string(4, opType);
    for (const [k, v] of Object.entries(attributes)) n.message(5, attribute(k, v));
    if (domain) {
      n.string(7, domain);
      if (!this.domains.has(domain)) this.domains.set(domain, 1);
    }
    this.nodes.push(n);
    return this;
  }

  /** Serialises the graph as a ModelProto. */
  toModel(): Uint8Array {
    const g = new ProtoMessage();
    for (const n of this.nodes) g.message(1, n);
    g.string(2, this.name);
    for (const t of this.inits) g.message(5, t);
    for (const i of this.inputs) g.message(11, i);
    for (const o of this.outputs) g.message(12, o);
    const model = new ProtoMessage().varint(1, IR_VERSION).string(2, '@moe-runtime/backend-onnx').string(3, '0.1.0');
    for (const [domain, version] of this.domains) {
      const opset = new ProtoMessage();
      if (domain) opset.string(1, domain);
      model.message(8, opset.varint(2, version));
    }
    return model.message(7, g).toBytes();
  }
}
