/*
 * cnnlab's third engine: the forward pass of a trained network in plain JavaScript, written straight from the
 * equations (beside the NumPy engine and torch; the tests prove all three equal).
 *
 * Layout and conventions are cnnlab's (and PyTorch's): a map is an array of C x H x W numbers, channel first,
 * then rows, then columns ("CHW", row-major); a vector is an array of n numbers. Convolution is
 * cross-correlation (the kernel is not flipped). Weights arrive as float32 and the arithmetic runs in float64
 * (JavaScript numbers), so results agree with the float32 engines to float32 rounding.
 *
 * Every layer is a function (layer, input) -> output. For the formula view, convCell and poolCell return the
 * numbers of the equation of one output value. maxPool2d computes every value with poolCell; conv2d with
 * convValue, which is convCell without keeping the terms (the same products summed in the same order, so the
 * same number), because keeping ~10^5 terms per image would make every redraw slow.
 */
const CnnEngine = (() => {
  "use strict";

  // --- decoding -----------------------------------------------------------------------------------------------

  /** The bytes of a base64 text. */
  function decodeBytes(base64) {
    const text = atob(base64);
    const bytes = new Uint8Array(text.length);
    for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
    return bytes;
  }

  /** Little-endian float32 (bytesPerValue 4) or float64 (8) numbers from base64, as a Float64Array. */
  function decodeFloats(base64, bytesPerValue = 4) {
    const bytes = decodeBytes(base64);
    const view = new DataView(bytes.buffer);
    const values = new Float64Array(bytes.length / bytesPerValue);
    for (let i = 0; i < values.length; i++) {
      values[i] = bytesPerValue === 4 ? view.getFloat32(4 * i, true) : view.getFloat64(8 * i, true);
    }
    return values;
  }

  /** A tensor: its shape ([C, H, W] or [n]) and its numbers in CHW order. */
  function tensor(shape, data) {
    const size = shape.reduce((a, b) => a * b, 1);
    return { shape: shape.slice(), data: data || new Float64Array(size) };
  }

  /** Decode the weights of every layer of an exported network once (weight, bias as Float64Arrays). */
  function prepareNetwork(network) {
    for (const layer of network.layers) {
      if (typeof layer.weight === "string") {
        layer.weight = decodeFloats(layer.weight);
        layer.bias = decodeFloats(layer.bias);
      }
    }
    return network;
  }

  // --- geometry -----------------------------------------------------------------------------------------------

  /**
   * Output size along one axis: floor((I + P_before + P_after - D * (K - 1) - 1) / S) + 1
   * (input size I, padding P on each side, dilation D, kernel K, stride S).
   */
  function outputSize(size, kernel, stride, padBefore, padAfter, dilation) {
    return Math.floor((size + padBefore + padAfter - dilation * (kernel - 1) - 1) / stride) + 1;
  }

  /** The output map size [H_out, W_out] of a conv or pooling layer for an input map of [H, W]. */
  function windowOutputSize(layer, height, width) {
    const [[top, bottom], [left, right]] = layer.padding;
    return [
      outputSize(height, layer.kernel[0], layer.stride[0], top, bottom, layer.dilation[0]),
      outputSize(width, layer.kernel[1], layer.stride[1], left, right, layer.dilation[1]),
    ];
  }

  /**
   * The input row/column that kernel tap (n, m) of output position (i, j) reads:
   * (i * S - P_top + n * D, j * S - P_left + m * D); outside 0..H-1 / 0..W-1 it is padding.
   */
  function tapPosition(layer, i, j, n, m) {
    return [
      i * layer.stride[0] - layer.padding[0][0] + n * layer.dilation[0],
      j * layer.stride[1] - layer.padding[1][0] + m * layer.dilation[1],
    ];
  }

  // --- convolution --------------------------------------------------------------------------------------------

  /**
   * One output value of a convolution, with every term of its equation (assignment 000, equation 4, with stride S,
   * padding P and dilation D):
   *
   *   y[o, i, j] = b[o] + sum_c sum_n sum_m x[c, i*S - P + n*D, j*S - P + m*D] * W[o, c, n, m]
   *
   * where x outside the input is 0 (zero padding). Returns { terms, channelSums, sum, bias, value }: terms[c] is
   * the list of { n, m, y, x, input, weight, product, padding } of input channel c, channelSums[c] their sum.
   */
  function convCell(layer, x, o, i, j) {
    const [C, H, W] = x.shape;
    const [K0, K1] = layer.kernel;
    const terms = [];
    const channelSums = [];
    let sum = 0;
    for (let c = 0; c < C; c++) {
      const channelTerms = [];
      let channelSum = 0;
      for (let n = 0; n < K0; n++) {
        for (let m = 0; m < K1; m++) {
          const [y, xx] = tapPosition(layer, i, j, n, m);
          const padding = y < 0 || y >= H || xx < 0 || xx >= W;
          const input = padding ? 0 : x.data[(c * H + y) * W + xx];
          const weight = layer.weight[((o * C + c) * K0 + n) * K1 + m];
          const product = input * weight;
          channelSum += product;
          channelTerms.push({ n, m, y, x: xx, input, weight, product, padding });
        }
      }
      terms.push(channelTerms);
      channelSums.push(channelSum);
      sum += channelSum;
    }
    const bias = layer.bias[o];
    return { terms, channelSums, sum, bias, value: sum + bias };
  }

  /** The value of convCell alone: the same sums in the same order, without keeping the terms. */
  function convValue(layer, x, o, i, j) {
    const [C, H, W] = x.shape;
    const [K0, K1] = layer.kernel;
    let sum = 0;
    for (let c = 0; c < C; c++) {
      let channelSum = 0;
      for (let n = 0; n < K0; n++) {
        for (let m = 0; m < K1; m++) {
          const [y, xx] = tapPosition(layer, i, j, n, m);
          if (y < 0 || y >= H || xx < 0 || xx >= W) continue;  // zero padding adds 0 * W = 0
          channelSum += x.data[(c * H + y) * W + xx] * layer.weight[((o * C + c) * K0 + n) * K1 + m];
        }
      }
      sum += channelSum;
    }
    return sum + layer.bias[o];
  }

  /** Conv2d: (C_in, H, W) -> (C_out, H_out, W_out), every value by the equation of convCell. */
  function conv2d(layer, x) {
    const [C, H, W] = x.shape;
    if (C !== layer.in_channels) {
      throw new Error(`${layer.name}: expects ${layer.in_channels} input channels, got ${C}`);
    }
    const [Ho, Wo] = windowOutputSize(layer, H, W);
    const out = tensor([layer.out_channels, Ho, Wo]);
    for (let o = 0; o < layer.out_channels; o++) {
      for (let i = 0; i < Ho; i++) {
        for (let j = 0; j < Wo; j++) out.data[(o * Ho + i) * Wo + j] = convValue(layer, x, o, i, j);
      }
    }
    return out;
  }

  // --- the other layers ---------------------------------------------------------------------------------------

  /** ReLU: max(0, x) for every value. */
  function relu(layer, x) {
    return tensor(x.shape, x.data.map((v) => (v > 0 ? v : 0)));
  }

  /**
   * One output value of max pooling: y[c, i, j] = max over (n, m) of x[c, i*S - P + n*D, j*S - P + m*D], where
   * padding counts as -infinity (it never wins, as in PyTorch). Returns { cells, winner, value }: cells lists
   * { n, m, y, x, input, padding } and winner is the index of the first maximum among them.
   */
  function poolCell(layer, x, c, i, j) {
    const [, H, W] = x.shape;
    const cells = [];
    let winner = -1;
    let value = -Infinity;
    for (let n = 0; n < layer.kernel[0]; n++) {
      for (let m = 0; m < layer.kernel[1]; m++) {
        const [y, xx] = tapPosition(layer, i, j, n, m);
        const padding = y < 0 || y >= H || xx < 0 || xx >= W;
        const input = padding ? -Infinity : x.data[(c * H + y) * W + xx];
        if (input > value) {
          value = input;
          winner = cells.length;
        }
        cells.push({ n, m, y, x: xx, input, padding });
      }
    }
    return { cells, winner, value };
  }

  /** MaxPool2d: (C, H, W) -> (C, H_out, W_out), windows may overlap (stride < kernel). */
  function maxPool2d(layer, x) {
    const [C, H, W] = x.shape;
    const [Ho, Wo] = windowOutputSize(layer, H, W);
    const out = tensor([C, Ho, Wo]);
    for (let c = 0; c < C; c++) {
      for (let i = 0; i < Ho; i++) {
        for (let j = 0; j < Wo; j++) out.data[(c * Ho + i) * Wo + j] = poolCell(layer, x, c, i, j).value;
      }
    }
    return out;
  }

  /** Flatten: (C, H, W) -> (C*H*W): the same numbers in CHW order (channel, then row, then column). */
  function flatten(layer, x) {
    return tensor([x.data.length], x.data);
  }

  /** Linear: y[o] = b[o] + sum_k W[o, k] * x[k], with W of shape (out, in). */
  function linear(layer, x) {
    const n = layer.in_features;
    if (x.data.length !== n) throw new Error(`${layer.name}: expects ${n} inputs, got ${x.data.length}`);
    const out = tensor([layer.out_features]);
    for (let o = 0; o < layer.out_features; o++) {
      let sum = 0;
      for (let k = 0; k < n; k++) sum += layer.weight[o * n + k] * x.data[k];
      out.data[o] = sum + layer.bias[o];
    }
    return out;
  }

  /** Softmax: p[k] = exp(z[k] - max z) / sum_l exp(z[l] - max z) (subtracting the max changes nothing but
   * keeps exp from overflowing). */
  function softmax(z) {
    const max = Math.max(...z);
    const e = Array.from(z, (v) => Math.exp(v - max));
    const total = e.reduce((a, b) => a + b, 0);
    return e.map((v) => v / total);
  }

  const LAYERS = { conv: conv2d, relu, pool: maxPool2d, flatten, linear };

  // --- the network --------------------------------------------------------------------------------------------

  /** The network's input for an image in [0, 1] (C x H x W numbers): (x - mean[c]) / std[c] per channel. */
  function standardize(network, pixels) {
    const [C, H, W] = network.input_shape;
    const out = tensor([C, H, W]);
    for (let c = 0; c < C; c++) {
      for (let k = 0; k < H * W; k++) out.data[c * H * W + k] = (pixels[c * H * W + k] - network.mean[c]) / network.std[c];
    }
    return out;
  }

  /**
   * Run every layer on one image in [0, 1]. Returns { input, outputs, probabilities }: input is the
   * standardised network input, outputs[k] the output tensor of layer k, probabilities the softmax of the last.
   */
  function forward(network, pixels) {
    const input = standardize(network, pixels);
    const outputs = [];
    let h = input;
    for (const layer of network.layers) {
      h = LAYERS[layer.kind](layer, h);
      outputs.push(h);
    }
    return { input, outputs, probabilities: softmax(h.data) };
  }

  return {
    decodeBytes, decodeFloats, prepareNetwork, outputSize, windowOutputSize, tapPosition, convCell, conv2d, relu,
    poolCell, maxPool2d, flatten, linear, softmax, standardize, forward,
  };
})();
