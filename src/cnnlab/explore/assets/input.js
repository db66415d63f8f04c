/*
 * The page's inputs: embedded test images, whole-pixel shifts, and a drawn digit turned into an MNIST-like image.
 * An image is C x H x W numbers in [0, 1] (CHW order), pixel value p / 255 of the embedded uint8 images.
 */
const CnnInput = (() => {
  "use strict";

  /** Embedded image k (uint8 pixels, all images one after another) as C*H*W numbers p / 255 in [0, 1]. */
  function samplePixels(bytes, shape, k) {
    const size = shape[0] * shape[1] * shape[2];
    return Float64Array.from(bytes.subarray(k * size, (k + 1) * size), (p) => p / 255);
  }

  /**
   * Move the content of every channel dx pixels right and dy pixels down (negative: left / up); vacated pixels
   * become 0. The same as cnnlab.data.shift_images(images, dx, dy) (fill mode):
   *   out[c, y, x] = image[c, y - dy, x - dx] where that is inside the image, else 0.
   */
  function shiftImage(pixels, shape, dx, dy) {
    const [C, H, W] = shape;
    const out = new Float64Array(pixels.length);
    for (let c = 0; c < C; c++) {
      for (let y = 0; y < H; y++) {
        for (let x = 0; x < W; x++) {
          const sy = y - dy;
          const sx = x - dx;
          if (sy >= 0 && sy < H && sx >= 0 && sx < W) out[(c * H + y) * W + x] = pixels[(c * H + sy) * W + sx];
        }
      }
    }
    return out;
  }

  /**
   * Area-average resampling along one axis: source positions [start, start + length) become `size` cells, each
   * the mean of the source over its share (length / size source pixels, partly covered pixels weighted by the
   * covered fraction). Returns, per cell, the list of [source index, weight] (weights of a cell sum to 1).
   */
  function areaWeights(start, length, size) {
    const step = length / size;
    const cells = [];
    for (let t = 0; t < size; t++) {
      const from = start + t * step;
      const to = from + step;
      const weights = [];
      for (let k = Math.floor(from); k < Math.ceil(to); k++) {
        const overlap = Math.min(to, k + 1) - Math.max(from, k);
        if (overlap > 0) weights.push([k, overlap / step]);
      }
      cells.push(weights);
    }
    return cells;
  }

  /**
   * A drawing turned into a 28 x 28 MNIST-like image, the way the MNIST digits were made:
   *  1. ink: the drawing's coverage in [0, 1] (height x width numbers, row-major); the bounding box of all
   *     pixels with ink > 0 is cut out (no ink at all gives an all-zero image);
   *  2. the box is scaled, keeping its aspect ratio, so that its longer side is 20 pixels (MNIST's 20 x 20 box),
   *     by area averaging (each new pixel is the mean ink of the area it covers, so grey edges appear as in
   *     MNIST's anti-aliased digits);
   *  3. its centre of mass (mean row and column weighted by ink) is moved, by whole pixels (rounded), to the
   *     centre of the 28 x 28 field, i.e. to row and column 13.5 of 0..27 (MNIST centred its digits by centre of
   *     mass in the 28 x 28 field); anything pushed outside the field is cut off;
   *  4. values are clipped to [0, 1].
   * Returns { pixels (784 numbers), box: [top, left, height, width] of the ink, offset: [row, col] of the scaled
   * box in the field }.
   */
  function mnistFromInk(ink, height, width) {
    const SIZE = 28;
    const BOX = 20;
    let top = height;
    let bottom = -1;
    let left = width;
    let right = -1;
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        if (ink[y * width + x] > 0) {
          top = Math.min(top, y);
          bottom = Math.max(bottom, y);
          left = Math.min(left, x);
          right = Math.max(right, x);
        }
      }
    }
    const pixels = new Float64Array(SIZE * SIZE);
    if (bottom < 0) return { pixels, box: null, offset: null };
    const boxH = bottom - top + 1;
    const boxW = right - left + 1;
    const scale = BOX / Math.max(boxH, boxW);
    const outH = Math.max(1, Math.round(boxH * scale));
    const outW = Math.max(1, Math.round(boxW * scale));
    const rows = areaWeights(top, boxH, outH);
    const cols = areaWeights(left, boxW, outW);
    const small = new Float64Array(outH * outW);
    for (let i = 0; i < outH; i++) {
      for (let j = 0; j < outW; j++) {
        let value = 0;
        for (const [y, wy] of rows[i]) {
          for (const [x, wx] of cols[j]) value += wy * wx * ink[y * width + x];
        }
        small[i * outW + j] = value;
      }
    }
    let mass = 0;
    let rowMoment = 0;
    let colMoment = 0;
    for (let i = 0; i < outH; i++) {
      for (let j = 0; j < outW; j++) {
        const v = small[i * outW + j];
        mass += v;
        rowMoment += v * i;
        colMoment += v * j;
      }
    }
    const centre = (SIZE - 1) / 2;
    const offsetY = Math.round(centre - rowMoment / mass);
    const offsetX = Math.round(centre - colMoment / mass);
    for (let i = 0; i < outH; i++) {
      for (let j = 0; j < outW; j++) {
        const y = i + offsetY;
        const x = j + offsetX;
        if (y >= 0 && y < SIZE && x >= 0 && x < SIZE) pixels[y * SIZE + x] = Math.min(1, Math.max(0, small[i * outW + j]));
      }
    }
    return { pixels, box: [top, left, boxH, boxW], offset: [offsetY, offsetX] };
  }

  /** The ink of a canvas the user drew on in white: alpha / 255 of every pixel, row-major. */
  function canvasInk(canvas) {
    const { width, height } = canvas;
    const rgba = canvas.getContext("2d").getImageData(0, 0, width, height).data;
    const ink = new Float64Array(width * height);
    for (let k = 0; k < ink.length; k++) ink[k] = rgba[4 * k + 3] / 255;
    return ink;
  }

  return { samplePixels, shiftImage, areaWeights, mnistFromInk, canvasInk };
})();
